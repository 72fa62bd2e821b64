#!/usr/bin/env bash
# A stand-in for trellis/proxy with what matters to the runtime: Debian bookworm (mmdebstrap,
# minbase, host's apt sources) + iptables (nft, as in the real Dockerfile) + the pinned Envoy
# binary (read from the devcluster's cache) + busybox for the probes' tools, user 1337.
# Imported into containerd as kexp/proxy:1. Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export CONTAINERS_CONF=/work/main/images/containers.conf
B=(buildah --root "$DATA/buildah/root" --runroot "$DATA/buildah/runroot" --storage-driver vfs)
CTR=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
"${CTR[@]}" images ls -q | grep -qx docker.io/kexp/proxy:1 && exit 0
out=$DATA/images; mkdir -p "$out"
tar=$KEXP/build/bookworm-iptables.tar
if [[ ! -f "$tar" ]]; then
  say "mmdebstrap bookworm minbase + iptables"
  s=$SECONDS
  nice -n 19 ionice -c3 mmdebstrap --variant=minbase --format=tar --quiet --include=iptables \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$tar.tmp" /etc/apt/sources.list.d/debian.sources
  mv "$tar.tmp" "$tar"
  say "  rootfs in $((SECONDS - s))s ($(du -h "$tar" | cut -f1))"
fi
envoy=$(readlink -f "$CACHE/envoy-1.36.4/envoy")
c=$("${B[@]}" from scratch)
"${B[@]}" add "$c" "$tar" /
"${B[@]}" copy "$c" "$envoy" /usr/local/bin/envoy
"${B[@]}" copy "$c" "$KEXP/build/busybox/root/bin/busybox" /usr/local/bin/busybox
"${B[@]}" copy "$c" "$KEXP/build/busybox/rootfs/www" /www
"${B[@]}" run --isolation chroot "$c" -- sh -c 'groupadd -g 1337 trellis-proxy && useradd -u 1337 -g 1337 -M -s /usr/sbin/nologin trellis-proxy'
"${B[@]}" config --user 1337:1337 --entrypoint '["/usr/local/bin/envoy"]' "$c"
"${B[@]}" commit -q "$c" kexp/proxy:1 >/dev/null; "${B[@]}" rm "$c" >/dev/null
"${B[@]}" push -q kexp/proxy:1 "docker-archive:$out/proxy.tar:kexp/proxy:1"
"${CTR[@]}" images import "$out/proxy.tar" >/dev/null
"${CTR[@]}" images ls | awk '/kexp\/proxy/ {print $1, $4, $5}'
