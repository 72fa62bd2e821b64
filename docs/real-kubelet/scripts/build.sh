#!/usr/bin/env bash
# Builds kubelet and kube-scheduler v1.34.4 into /work/kexp/bin exactly as
# /work/main/tools/devcluster/build-binaries.sh builds kube-apiserver: a throwaway module that
# requires k8s.io/kubernetes with the staging replace list, CGO_ENABLED=0, -trimpath, same ldflags.
# Reuses the Go module and build caches. Idempotent (a built binary is kept).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
work=$KEXP/build/kubernetes-$KUBE_VERSION
mkdir -p "$BIN"
if [[ ! -f "$work/go.mod" ]]; then
  staging_ver="v0${KUBE_VERSION#v1}"
  gomod="$(cd /tmp && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  mkdir -p "$work"
  { echo "module trellis.local/devcluster-build"; echo; echo "go 1.24"; echo; echo "require k8s.io/kubernetes $KUBE_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
      | awk -v v="$staging_ver" '{print "replace " $1 " => " $1 " " v}'; } >"$work/go.mod"
  (cd "$work" && go mod download k8s.io/kubernetes && go get "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null 2>&1 || true)
fi
pkg=k8s.io/component-base/version minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
  -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ) -X $pkg.gitCommit=0000000000000000000000000000000000000000 \
  -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
for bin in kubelet kube-scheduler; do
  [[ -x "$BIN/$bin" ]] && continue
  say "go build $bin"
  start=$SECONDS
  (cd "$work" && nice -n 19 ionice -c3 go build -mod=mod -trimpath -ldflags "$ldflags" -o "$BIN/$bin.tmp" "k8s.io/kubernetes/cmd/$bin")
  mv "$BIN/$bin.tmp" "$BIN/$bin"
  say "  $bin built in $((SECONDS - start))s"
done
# The sandbox ("pause") binary: containerd's CRI needs a sandbox image and none can be pulled.
if [[ ! -x "$BIN/pause" ]]; then
  mkdir -p "$KEXP/build/pause"
  cp /work/main/tools/devcluster/pause/main.go "$KEXP/build/pause/main.go"   # the devcluster's own
  (cd "$KEXP/build/pause" && { [[ -f go.mod ]] || go mod init kexp/pause >/dev/null 2>&1; } && \
    nice -n 19 go build -trimpath -ldflags '-s -w' -o "$BIN/pause" .)
fi
ls -la "$BIN"
