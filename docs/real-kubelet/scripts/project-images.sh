#!/usr/bin/env bash
# The project's own images, built by its own scripts/images.sh (buildah, local bases) from a
# clone in /work/kexp/trellis with buildah storage and caches under data/ (nothing of
# /work/main/.devcluster is written; its Envoy is only read), then imported into containerd.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[[ -d "$KEXP/trellis/.git" ]] || git clone -q /work/main "$KEXP/trellis"
mkdir -p "$DATA/devcache" && ln -sfn "$CACHE/envoy-1.36.4" "$DATA/devcache/envoy-1.36.4"
export CONTAINERS_STORAGE_CONF=$CONF/storage.conf DEVCLUSTER_CACHE=$DATA/devcache IMAGE_BUILDER=buildah
(cd "$KEXP/trellis" && nice -n 19 ionice -c3 scripts/images.sh && scripts/images.sh sizes)
CTR=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
for name in controller proxy echo; do
  ref=trellis/$name:dev
  id=$(buildah inspect --type image --format '{{.FromImageID}}' "$ref")
  # Import only when containerd does not have this image ID under the name yet.
  have=$("${CTR[@]}" images ls "name==docker.io/$ref" -q 2>/dev/null || true)
  if [[ -n "$have" ]] && [[ "$(cat "$DATA/images/trellis-$name.id" 2>/dev/null)" == "$id" ]]; then continue; fi
  s=$SECONDS
  rm -f "$DATA/images/trellis-$name.tar"
  buildah push -q "$ref" "docker-archive:$DATA/images/trellis-$name.tar:$ref"
  "${CTR[@]}" images import "$DATA/images/trellis-$name.tar" >/dev/null
  echo "$id" >"$DATA/images/trellis-$name.id"; rm -f "$DATA/images/trellis-$name.tar"
  say "imported $ref (${id:0:12}) in $((SECONDS - s))s"
done
"${CTR[@]}" images ls | awk '/trellis\// {print $1, $4, $5}'
