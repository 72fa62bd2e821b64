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
"$root/scripts/deploy.sh" >/dev/null
"$kubectl" -n trellis-system get pods
say "deploying bookinfo (demo/bookinfo.yaml)"
"$kubectl" apply -f "$root/demo/bookinfo.yaml" >/dev/null
"$kubectl" -n bookinfo wait --for=condition=Available deployment --all --timeout=120s >/dev/null
"$kubectl" -n bookinfo wait --for=condition=Ready pod/client --timeout=60s >/dev/null
"$kubectl" -n bookinfo get pods -o wide

say "sending 30 requests from bookinfo/client to http://reviews:9080/"
for _ in $(seq 60); do "$dc" exec bookinfo/client -- echo-client http://reviews:9080/ >/dev/null 2>&1 && break; sleep 0.5; done
"$dc" exec bookinfo/client -- echo-client http://reviews:9080/ -n 30 \
  | node -e '
      const counts = {};
      for (const line of require("fs").readFileSync(0, "utf8").trim().split("\n")) {
        const r = JSON.parse(line);
        const v = r.body?.labels?.version ?? r.error ?? "?";
        counts[v] = (counts[v] ?? 0) + 1;
      }
      for (const [v, n] of Object.entries(counts).sort()) console.log(`  reviews ${v}: ${n} requests`);
    '
cat <<EOF

Traffic above goes through kube-proxy (no sidecars yet: injection and routing come with the
mesh issues). The cluster keeps running:

  export KUBECONFIG=$KUBECONFIG
  $kubectl get pods -A
  $dc exec bookinfo/client -- echo-client http://productpage:9080/
  make cluster-down        # stop it and remove everything
EOF
