#!/usr/bin/env bash
# Istio's own sidecar agent (pilot-agent) against Trellis, for its memory beside trellis-agent's
# (bench/agent-rss.ts): pilot-agent built from Istio's Go module at the version vs-istiod pins,
# put into an image over trellis/proxy:$IMAGE_TAG (the same Envoy) with Istio's bootstrap
# template, and run in a pod shaped as Istio's injector shapes one (projected istio-ca token,
# istio-ca-root-cert, the SDS and credential sockets) in a namespace without injection. It asks
# Trellis's CA for its certificate and proxies Envoy's xDS to Trellis, as it would to istiod.
# Prints the agent's VmRSS, VmHWM, RssAnon and RssFile (MiB) once the pod is Ready.
#
#   bench/vs-istiod/istio-agent.sh      (the devcluster running, Trellis installed: make deploy)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/versions.env"
module="$(go env GOMODCACHE)/istio.io/istio@$ISTIO_VERSION"
image="trellis-bench/pilot-agent:${IMAGE_TAG:-dev}"
ns=bench-istio-agent
kubectl="${DEVCLUSTER_CACHE:-$root/.devcluster/cache}/kubernetes-v1.34.4/kubectl"
export KUBECONFIG="${KUBECONFIG:-$root/.devcluster/kubeconfig}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/images/containers.conf}"
step() { printf '\033[1m[istio-agent]\033[0m %s\n' "$*" >&2; }

bin="$("$here/build-istiod.sh" pilot-agent)"

step "image $image"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/pilot-agent"
cp "$module/tools/packaging/common/envoy_bootstrap.json" "$work/bootstrap.json"
c="$(buildah from "localhost/trellis/proxy:${IMAGE_TAG:-dev}")"
buildah copy --chown 0:0 "$c" "$work/pilot-agent" /usr/local/bin/pilot-agent >/dev/null
buildah copy --chown 0:0 --chmod 644 "$c" "$work/bootstrap.json" /var/lib/istio/envoy/envoy_bootstrap_tmpl.json >/dev/null
buildah config --entrypoint '["/usr/local/bin/pilot-agent"]' --workingdir / --user 1337:1337 "$c"
buildah commit -q "$c" "$image" >/dev/null
buildah rm "$c" >/dev/null
buildah push --quiet "$image" "docker-archive:$work/image.tar:$image"
ctr --address "$root/.devcluster/run/containerd/containerd.sock" --namespace k8s.io images import "$work/image.tar" >/dev/null

step "pod $ns/istio-agent"
"$kubectl" delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
sed "s|IMAGE|$image|" "$here/istio-agent-pod.yaml" | "$kubectl" apply -f - >/dev/null
"$kubectl" -n "$ns" wait pod/istio-agent --for=condition=Ready --timeout=120s >/dev/null
sleep "${SETTLE:-20}"
"$kubectl" -n "$ns" logs istio-agent | grep -E "connected to .*XDS server|generated new workload certificate" | cut -c1-160 >&2 || true
uid="$("$kubectl" -n "$ns" get pod istio-agent -o jsonpath='{.metadata.uid}')"
for p in $(pgrep -f "pilot-agent proxy sidecar"); do
  grep -q "pod${uid}" "/proc/$p/cgroup" 2>/dev/null || grep -q "${uid//-/_}" "/proc/$p/cgroup" 2>/dev/null || continue
  awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/{printf "%s %.1f MiB  ", $1, $2/1024} END{print ""}' "/proc/$p/status"
done
"$kubectl" delete namespace "$ns" --wait=false >/dev/null
