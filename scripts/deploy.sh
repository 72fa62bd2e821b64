#!/usr/bin/env bash
# `make deploy`: install (or upgrade) Trellis into the running devcluster with its Helm chart.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/tools/devcluster/versions.env"
helm="$root/.devcluster/cache/helm-$HELM_VERSION/helm"
kubectl="$root/.devcluster/cache/kubernetes-$KUBE_VERSION/kubectl"
export KUBECONFIG="${KUBECONFIG:-$root/.devcluster/kubeconfig}"
"$root/tools/devcluster/devcluster" status >/dev/null || { echo "deploy: the devcluster is not running (make cluster-up)" >&2; exit 1; }
# Helm installs crds/ only with a release's first install: apply them first, so an upgrade brings
# a kind added since (without its CRD the control plane serves the rest and looks for it every
# 30 s: the kind simply has no objects until then).
"$kubectl" apply --server-side --force-conflicts -f "$root/crds" >/dev/null
"$kubectl" wait --for=condition=Established crd --all --timeout=60s >/dev/null
# The images the devcluster's node has: `devcluster up` (and `devcluster images`) built and
# imported them with the tag IMAGE_TAG; nothing can be pulled.
tag="${IMAGE_TAG:-dev}"
image_ids() { for name in controller proxy; do buildah inspect --type image --format '{{.FromImageID}}' "trellis/$name:$tag" 2>/dev/null || echo none; done; }
before="$(image_ids)"
"$root/tools/devcluster/devcluster" images
installed=""
"$helm" status trellis --namespace trellis-system >/dev/null 2>&1 && installed=yes
"$helm" upgrade --install trellis "$root/charts/trellis" --namespace trellis-system --create-namespace --wait --timeout 3m \
  --set "image.tag=$tag" --set "proxy.image=trellis/proxy:$tag" "$@"
# The tag stays the same (dev): rebuilt images change no pod template, so Helm rolls nothing and
# the running pods would keep the old code. Roll them when an image changed.
if [[ -n "$installed" && "$(image_ids)" != "$before" ]]; then
  echo "deploy: the images changed; restarting the control plane and gateway pods"
  "$kubectl" -n trellis-system rollout restart deployment >/dev/null
fi
"$kubectl" -n trellis-system rollout status deployment/trellis --timeout 120s
