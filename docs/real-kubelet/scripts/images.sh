#!/usr/bin/env bash
# Builds two tiny local images with buildah (its own storage under data/, no registry) and
# imports them into containerd's k8s.io namespace:
#   kexp/pause:1    the sandbox image (static Go pause from build.sh), containerd's sandbox_image
#   kexp/busybox:1  Debian's busybox-static (sh, httpd, nc, wget, sleep...) FROM scratch
# Needs containerd running (up.sh starts it first and then calls this). Idempotent.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export CONTAINERS_CONF=/work/main/images/containers.conf   # read-only: default_ulimits = [], runc, cgroupfs
B=(buildah --root "$DATA/buildah/root" --runroot "$DATA/buildah/runroot" --storage-driver vfs)
CTR=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
out=$DATA/images; mkdir -p "$out"

have() { "${CTR[@]}" images ls -q | grep -qx "docker.io/$1"; }

if ! have kexp/pause:1; then
  say "image kexp/pause:1"
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy "$c" "$BIN/pause" /pause
  "${B[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  "${B[@]}" commit -q "$c" kexp/pause:1 >/dev/null; "${B[@]}" rm "$c" >/dev/null
  "${B[@]}" push -q kexp/pause:1 "docker-archive:$out/pause.tar:kexp/pause:1"
  "${CTR[@]}" images import --no-unpack=false "$out/pause.tar" >/dev/null
fi

if ! have kexp/busybox:1; then
  say "image kexp/busybox:1"
  deb=$KEXP/build/busybox
  if [[ ! -x "$deb/root/bin/busybox" ]]; then
    mkdir -p "$deb" && (cd "$deb" && rm -f busybox-static_*.deb && apt-get download busybox-static >/dev/null 2>&1 && dpkg-deb -x busybox-static_*.deb root)
  fi
  rootfs=$deb/rootfs; rm -rf "$rootfs"; mkdir -p "$rootfs"/{bin,tmp,etc,www}
  cp "$deb/root/bin/busybox" "$rootfs/bin/busybox"
  for a in $("$rootfs/bin/busybox" --list); do [[ "$a" == busybox ]] || ln -sf busybox "$rootfs/bin/$a"; done
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/:/bin/sh\nproxy:x:1337:1337:proxy:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nproxy:x:1337:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  echo hello-from-kexp >"$rootfs/www/index.html"
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy "$c" "$rootfs/" /
  "${B[@]}" config --cmd '["/bin/sh"]' --env PATH=/bin "$c"
  "${B[@]}" commit -q "$c" kexp/busybox:1 >/dev/null; "${B[@]}" rm "$c" >/dev/null
  "${B[@]}" push -q kexp/busybox:1 "docker-archive:$out/busybox.tar:kexp/busybox:1"
  "${CTR[@]}" images import "$out/busybox.tar" >/dev/null
fi
"${CTR[@]}" images ls | awk 'NR==1 || /kexp/ {print $1, $4, $5}'
