#!/usr/bin/env bash
# mtls-latency: what two sidecars, and mutual TLS between them, add to a request. fortio runs in
# a client pod's network namespace (`devcluster exec`: the pod's capture rules send its traffic
# through the pod's sidecar) at a fixed rate against the Service `echo`, three ways:
#   nomesh     a namespace without injection: fortio -> app (kube-proxy's ClusterIP)
#   plaintext  injected namespace, DestinationRule echo tls.mode DISABLE:
#              fortio -> client Envoy -> server Envoy (HTTP) -> app
#   mtls       injected namespace, default (auto mTLS): the same with mutual TLS between Envoys
# and, as controls on the host's loopback without Kubernetes, iptables or Trellis:
#   host       fortio -> fortio server
#   host-2envoy  fortio -> Envoy -> Envoy -> fortio server (a minimal static configuration, HTTP,
#              2 workers each, as the sidecars): what two Envoys cost on this machine at all.
# For each: fortio's p50/p90/p99/p99.9 (histogram resolution 10 us), the CPU time of the two
# Envoy processes and of the app from /proc/<pid>/stat during the measured run, and how busy the
# whole machine was.
#
#   bench/mtls-latency.sh [--qps 1000] [--duration 30s] [--connections 16] [--rounds 2]
#                         [--payload 1024] [--backend fortio|echo] [--sync] [--no-controls]
#
# As Istio's latency benchmark: 1,000 req/s over 16 connections, 1 KB request payloads (POST,
# echoed back by the app); `--payload 0` sends GETs. fortio's 16 connections are de-synchronised
# (-uniform); with `--sync` they fire together (fortio's default), in bursts of 16, which on
# this machine adds milliseconds of queueing behind every proxy.
# The app behind the Service is `fortio server` by default (as in Istio's benchmark; the
# devcluster runs pods as host processes, so the pod's command is the host's fortio binary).
# `--backend echo` uses the trellis/echo app instead, which answers every request after a
# setTimeout(0) (at least 1 ms) and so adds ~2 ms of its own to every mode.
#
# Needs the running devcluster with Trellis installed (make cluster-up && make deploy) and
# fortio 1.68 ($FORTIO, or $(go env GOPATH)/bin/fortio; installed with `go install` if missing).
# Creates and deletes the namespaces bench-mtls-<id> and bench-nomesh-<id>; the controls use
# 127.0.0.1 ports 31001-31003 and 31011-31012. Record the results in BENCHMARKS.md with the
# machine and the date.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KUBECONFIG="${KUBECONFIG:-$root/.devcluster/kubeconfig}"
source "$root/tools/devcluster/versions.env"
kubectl="$root/.devcluster/cache/kubernetes-$KUBE_VERSION/kubectl"
devcluster="$root/tools/devcluster/devcluster"
envoy="$root/.devcluster/cache/envoy-$ENVOY_VERSION/envoy"

qps=1000 duration=30s connections=16 rounds=2 warmup=5s backend=fortio payload=1024 uniform=-uniform controls=1
while (($#)); do
  case "$1" in
    --qps) qps="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    --payload) payload="$2"; shift 2 ;;
    --sync) uniform=""; shift ;;
    --no-controls) controls=0; shift ;;
    -h | --help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

"$devcluster" status >/dev/null 2>&1 || { echo "mtls-latency: the devcluster is not running (make cluster-up, then make deploy)" >&2; exit 1; }
"$kubectl" -n trellis-system rollout status deploy/trellis --timeout=10s >/dev/null 2>&1 || { echo "mtls-latency: Trellis is not installed (make deploy)" >&2; exit 1; }
fortio="${FORTIO:-$(go env GOPATH)/bin/fortio}"
if [[ ! -x "$fortio" ]]; then
  echo "installing fortio 1.68.0 (go install fortio.org/fortio@v1.68.0)" >&2
  go install fortio.org/fortio@v1.68.0
fi

case "$backend" in
  fortio) command="command: ['$fortio', server, -http-port, '8080', -grpc-port, disabled, -redirect-port, disabled]" path=/debug app_comm=fortio app_cmd=server ;;
  echo) command="" path=/ app_comm=node app_cmd=echo/server.js ;;
  *) echo "--backend is fortio or echo, got $backend" >&2; exit 2 ;;
esac

id="$(date +%s | tail -c 6)$RANDOM"
mesh="bench-mtls-$id" nomesh="bench-nomesh-$id"
work="$(mktemp -d)"
host_pids=()
cleanup() {
  "$kubectl" delete namespace "$mesh" "$nomesh" --wait=false >/dev/null 2>&1 || true
  for p in "${host_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

app() { # namespace [labels]
  cat <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $1, labels: {${2:-}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: echo
        image: trellis/echo:${IMAGE_TAG:-dev}
        $command
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: $1}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: $1, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: client, image: 'trellis/echo:${IMAGE_TAG:-dev}', command: [sleep, infinity]}]
YAML
}

disable_tls() {
  "$kubectl" apply -f - >/dev/null <<YAML
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: $mesh}
spec: {host: echo, trafficPolicy: {tls: {mode: DISABLE}}}
YAML
}

# A static Envoy for the host control: listens on $1, proxies HTTP to 127.0.0.1:$2, admin $3.
static_envoy() {
  cat >"$work/envoy-$1.yaml" <<YAML
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $3}}}
static_resources:
  listeners:
  - name: in
    address: {socket_address: {address: 127.0.0.1, port_value: $1}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: in
          route_config: {virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: /}, route: {cluster: up}}]}]}
          http_filters: [{name: envoy.filters.http.router, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}]
  clusters:
  - name: up
    connect_timeout: 1s
    type: STATIC
    load_assignment: {cluster_name: up, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $2}}}}]}]}
YAML
  "$envoy" -c "$work/envoy-$1.yaml" --concurrency 2 --disable-hot-restart --log-level error >/dev/null 2>&1 &
  echo $!
}

{ app "$nomesh"; echo "---"; app "$mesh" "trellis-injection: enabled"; } | "$kubectl" apply -f - >/dev/null
for ns in "$nomesh" "$mesh"; do
  until "$kubectl" -n "$ns" get pod client >/dev/null 2>&1 && [[ "$("$kubectl" -n "$ns" get pods --no-headers 2>/dev/null | wc -l)" -ge 2 ]]; do sleep 1; done
  "$kubectl" -n "$ns" wait --for=condition=Ready pod --all --timeout=180s >/dev/null
done
host_app="" host_e1="" host_e2=""
if ((controls)); then
  "$fortio" server -http-port 127.0.0.1:31003 -grpc-port disabled -redirect-port disabled >/dev/null 2>&1 &
  host_pids+=($!) host_app=$!
  host_e2="$(static_envoy 31002 31003 31012)" host_e1="$(static_envoy 31001 31002 31011)"
  host_pids+=("$host_e1" "$host_e2")
  sleep 2
fi

# One reply of the app to the namespace's client; the client certificate the app sees
# (x-forwarded-client-cert) is there with mTLS and not in plaintext.
reply() { "$devcluster" exec "$1/client" -- echo-client "http://echo:8080$path" 2>/dev/null | head -1; }
wait_for() { # description command...
  local what="$1"; shift
  for _ in $(seq 1 120); do "$@" && return 0; sleep 1; done
  echo "mtls-latency: timed out waiting for $what" >&2; exit 1
}
is_mtls() { local r; r="$(reply "$mesh")"; [[ "$r" == '{"status":200'* && "${r,,}" == *"x-forwarded-client-cert"*"uri=spiffe://cluster.local/ns/$mesh/sa/default"* ]]; }
is_plain() { local r; r="$(reply "$mesh")"; [[ "$r" == '{"status":200'* && "${r,,}" != *x-forwarded-client-cert* ]]; }
is_up() { [[ "$(reply "$nomesh")" == '{"status":200'* ]]; }

# Host pids of a pod's processes: envoy (the sidecar) and the app, by their env and command.
pid_of() { # ns pod-prefix comm [command line pattern]
  local p
  for p in $(pgrep -x "$3"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "POD_NAMESPACE=$1" || continue
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^POD_NAME=$2" || continue
    [[ -z "${4:-}" ]] || tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$4" || continue
    echo "$p"; return
  done
}
ticks() { if [[ -n "$1" ]]; then awk '{print $14 + $15}' "/proc/$1/stat"; else echo 0; fi; }
# Busy and total jiffies of the whole machine (every CPU).
machine() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
hz="$(getconf CLK_TCK)"

results=()
# run MODE URL CLIENT-ENVOY-PID SERVER-ENVOY-PID APP-PID [COMMAND PREFIX...]: a warm-up, then the
# measured run, printed as one row.
run() {
  local mode="$1" url="$2" ce="$3" se="$4" ap="$5" c0 s0 a0 m0 m1 json line
  shift 5
  local load=("$@" "$fortio" load -quiet $uniform -qps "$qps" -c "$connections" -payload-size "$payload")
  "${load[@]}" -t "$warmup" "$url" >/dev/null 2>&1
  c0="$(ticks "$ce")" s0="$(ticks "$se")" a0="$(ticks "$ap")" m0="$(machine)"
  json="$("${load[@]}" -t "$duration" -r 0.00001 -p "50,90,99,99.9" -json - "$url" 2>/dev/null)"
  m1="$(machine)"
  line="$(node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const [mode, dc, ds, da, hz, m0, m1] = process.argv.slice(1);
    const [b0, t0] = m0.split(" ").map(Number), [b1, t1] = m1.split(" ").map(Number);
    const p = Object.fromEntries(r.DurationHistogram.Percentiles.map((x) => [x.Percentile, (x.Value * 1000).toFixed(3)]));
    const secs = r.ActualDuration / 1e9;
    const ok = r.RetCodes["200"] ?? 0;
    const cpu = (t) => (t / hz / secs).toFixed(3);
    console.log([mode, r.ActualQPS.toFixed(0), p[50], p[90], p[99], p["99.9"], r.DurationHistogram.Count - ok, cpu(dc), cpu(ds), cpu(da), ((b1 - b0) / (t1 - t0) * 100).toFixed(0) + "%"].join("\t"));
  ' "$mode" "$(($(ticks "$ce") - c0))" "$(($(ticks "$se") - s0))" "$(($(ticks "$ap") - a0))" "$hz" "$m0" "$m1" <<<"$json")"
  results+=("$line")
  printf '%s\n' "$line"
}
run_pods() { # mode namespace
  run "$1" http://echo:8080/ "$(pid_of "$2" client envoy)" "$(pid_of "$2" echo- envoy)" "$(pid_of "$2" echo- "$app_comm" "$app_cmd")" "$devcluster" exec "$2/client" --
}

echo "mtls-latency: backend $backend, $(nproc) vCPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $qps req/s, $connections connections${uniform:+ (uniform)}, payload $payload B, $duration per run after $warmup warm-up, $rounds rounds, $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'mode\tqps\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tnon-200\tclient Envoy vCPU\tserver Envoy vCPU\tapp vCPU\tmachine busy\n'
wait_for "the plain namespace" is_up
wait_for "mTLS between the sidecars" is_mtls
for ((round = 1; round <= rounds; round++)); do
  # Alternate the order between rounds so that drift in the machine's load is shared.
  order=(nomesh plaintext mtls host host-2envoy)
  ((round % 2 == 0)) && order=(host-2envoy host mtls plaintext nomesh)
  for mode in "${order[@]}"; do
    case "$mode" in
      nomesh) run_pods nomesh "$nomesh" ;;
      plaintext) disable_tls; wait_for "plaintext between the sidecars" is_plain; run_pods plaintext "$mesh" ;;
      mtls) "$kubectl" -n "$mesh" delete destinationrule echo --ignore-not-found >/dev/null; wait_for "mTLS between the sidecars" is_mtls; run_pods mtls "$mesh" ;;
      host) ((controls)) && run host http://127.0.0.1:31003/ "" "" "$host_app" ;;
      host-2envoy) ((controls)) && run host-2envoy http://127.0.0.1:31001/ "$host_e1" "$host_e2" "$host_app" ;;
    esac
  done
done

# Medians per mode; the sidecars over no mesh, and the two host Envoys over the host alone
# (Istio 1.20 publishes +0.228 ms p90 and +0.298 ms p99 for two sidecars with mTLS at 1,000
# req/s, 16 connections, 1 KB payloads).
echo
printf '%s\n' "${results[@]}" | node -e '
  const rows = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => l.split("\t"));
  const med = (xs) => { const s = xs.map(Number).sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const by = {};
  for (const r of rows) (by[r[0]] ??= []).push(r);
  const col = (mode, i) => med(by[mode].map((r) => r[i]));
  console.log("median over rounds\tp50 ms\tp90 ms\tp99 ms\ttwo Envoys vCPU\tover\tp50 over\tp90 over\tp99 over");
  for (const [m, base] of [["nomesh", ""], ["plaintext", "nomesh"], ["mtls", "nomesh"], ["host", ""], ["host-2envoy", "host"]]) {
    if (!by[m]) continue;
    const d = (i) => (base ? `+${(col(m, i) - col(base, i)).toFixed(3)}` : "");
    console.log([m, col(m, 2).toFixed(3), col(m, 3).toFixed(3), col(m, 4).toFixed(3), (col(m, 7) + col(m, 8)).toFixed(3), base, d(2), d(3), d(4)].join("\t"));
  }
'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
