{{- define "trellis.labels" -}}
app.kubernetes.io/name: trellis
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "trellis.selector" -}}
app.kubernetes.io/name: trellis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- /* Cluster-scoped names carry the release namespace: two installs never collide. */}}
{{- define "trellis.validatorName" -}}
trellis-validator-{{ .Release.Namespace }}
{{- end }}
{{- define "trellis.injectorName" -}}
trellis-sidecar-injector-{{ .Release.Namespace }}
{{- end }}
{{- define "trellis.clusterRoleName" -}}
trellis-{{ .Release.Namespace }}
{{- end }}
{{- define "trellis.discoveryAddress" -}}
trellis.{{ .Release.Namespace }}.svc:15012
{{- end }}
{{- define "trellis.gatewayLabels" -}}
app: trellis-ingressgateway
istio: ingressgateway
app.kubernetes.io/name: trellis-ingressgateway
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- /* The Secret holding the webhooks' CA and certificate (the chart owns it; Trellis fills it). */}}
{{- define "trellis.certSecretName" -}}
trellis-webhook-tls
{{- end }}
