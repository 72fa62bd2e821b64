#!/usr/bin/env bash
# `make demo`: starts the devcluster, installs Trellis with its Helm chart, deploys a
# bookinfo-like set of echo services, sends traffic and prints where it went. Leaves the
# cluster running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/tools/devcluster/versions.env"
kubectl="$root/.devcluster/cache/kubernetes-$KUBE_VERSION/kubectl"
export KUBECONFIG="$root/.devcluster/kubeconfig"
dc="$root/tools/devcluster/devcluster"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting the devcluster"
"$dc" up
say "installing Trellis (Helm chart charts/trellis)"
"$root/scripts/deploy.sh" --set gateway.enabled=true --set gateway.serviceType=ClusterIP >/dev/null
"$kubectl" -n trellis-system get pods
say "deploying bookinfo (demo/bookinfo.yaml)"
"$kubectl" apply -f "$root/demo/bookinfo.yaml" >/dev/null
"$kubectl" -n bookinfo wait --for=condition=Available deployment --all --timeout=120s >/dev/null
"$kubectl" -n bookinfo wait --for=condition=Ready pod/client --timeout=60s >/dev/null
"$kubectl" -n bookinfo get pods -o wide

count() {
  node -e '
    const counts = {};
    for (const line of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
      const r = JSON.parse(line);
      const v = r.body?.labels?.version ?? r.error ?? "?";
      counts[v] = (counts[v] ?? 0) + 1;
    }
    for (const [v, n] of Object.entries(counts).sort()) console.log(`  reviews ${v}: ${n} requests`);
  '
}

say "without routing: 60 requests from bookinfo/client to http://reviews:9080/ (through both sidecars)"
for _ in $(seq 60); do "$dc" exec bookinfo/client -- echo-client http://reviews:9080/ >/dev/null 2>&1 && break; sleep 0.5; done
"$dc" exec bookinfo/client -- echo-client http://reviews:9080/ -n 60 | count

say "applying demo/routing.yaml: 70/20/10 across v1/v2/v3, and end-user: jason -> v2"
"$kubectl" apply -f "$root/demo/routing.yaml"
sleep 1
say "100 requests to http://reviews:9080/"
"$dc" exec bookinfo/client -- echo-client http://reviews:9080/ -n 100 | count
say "20 requests with the header end-user: jason"
"$dc" exec bookinfo/client -- echo-client http://reviews:9080/ -n 20 -H 'end-user: jason' | count
say "through the ingress gateway (demo/gateway.yaml): from this machine to the gateway Service"
"$kubectl" apply -f "$root/demo/gateway.yaml" >/dev/null
gw_ip="$("$kubectl" -n trellis-system get svc trellis-ingressgateway -o jsonpath='{.spec.clusterIP}')"
"$kubectl" -n trellis-system rollout status deploy/trellis-ingressgateway --timeout=60s >/dev/null
for _ in $(seq 40); do curl -fsS -o /dev/null "http://$gw_ip/productpage" 2>/dev/null && break; sleep 0.5; done
printf '  GET http://%s/productpage -> ' "$gw_ip"
curl -sS "http://$gw_ip/productpage" | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(`${r.pod} (path ${r.path})`)'
printf '  GET http://%s/other       -> HTTP %s (no route)\n' "$gw_ip" "$(curl -s -o /dev/null -w '%{http_code}' "http://$gw_ip/other")"

say "one reply, with the headers Envoy added on the way"
"$dc" exec bookinfo/client -- echo-client http://reviews:9080/ | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(`  status ${r.status} from ${r.pod}; server: ${r.headers.server}; x-envoy-upstream-service-time: ${r.headers["x-envoy-upstream-service-time"]} ms`);
'
cat <<EOF2

Every pod in bookinfo has an Envoy sidecar (trellis-init set up the capture, trellis-proxy runs
Envoy, configured by Trellis over xDS). The cluster keeps running:

  export KUBECONFIG=$KUBECONFIG
  $kubectl -n bookinfo get pods                      # 2/2: the app and its proxy
  $kubectl -n bookinfo get vs,dr,gw                  # the routing, with status conditions
  curl http://$gw_ip/productpage                     # through the ingress gateway
  $dc exec bookinfo/client -- echo-client http://reviews:9080/ -n 5 -H 'end-user: jason'
  make cluster-down                                  # stop it and remove everything
EOF2
