#!/usr/bin/env bash
# Builds istiod (pilot-discovery) from Istio's Go module at the version pinned in versions.env
# and caches it as .devcluster/cache/istiod-<version>/pilot-discovery, like the devcluster's
# binaries. Idempotent: a cached binary is never rebuilt. Prints the binary's path.
# `build-istiod.sh pilot-agent` builds Istio's sidecar agent the same way, into
# .devcluster/cache/pilot-agent-<version>/ (istio-agent.sh uses it).
# Istio is large: on a shared 2-core machine it builds at low priority on one core
# (ISTIOD_BUILD_JOBS=N to use more); a cold build takes tens of minutes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${DEVCLUSTER_CACHE:-$root/.devcluster/cache}"
cmd="${1:-pilot-discovery}"
case "$cmd" in
  pilot-discovery) out="$cache/istiod-$ISTIO_VERSION" ;;
  pilot-agent) out="$cache/pilot-agent-$ISTIO_VERSION" ;;
  *) echo "build-istiod: builds pilot-discovery (the default) or pilot-agent, not $cmd" >&2; exit 2 ;;
esac
step() { printf '\033[1m[istio build]\033[0m %s\n' "$*" >&2; }
command -v go >/dev/null || { echo "build-istiod: Go is required (go not found in PATH)" >&2; exit 1; }

if [[ ! -x "$out/$cmd" ]]; then
  jobs="${ISTIOD_BUILD_JOBS:-1}"
  step "building $cmd $ISTIO_VERSION ($ISTIO_VERSION_LABEL), $jobs job(s), nice 19"
  start=$SECONDS
  pkg=istio.io/istio/pkg/version
  ldflags="-s -w -X $pkg.buildVersion=$ISTIO_VERSION_LABEL -X $pkg.buildGitRevision=${ISTIO_VERSION##*-}
    -X $pkg.buildStatus=Clean -X $pkg.buildTag=$ISTIO_VERSION -X $pkg.buildHub=local
    -X $pkg.buildOS=linux -X $pkg.buildArch=$(go env GOARCH)"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  # Istio's go.mod has no replace directives, so `go install module@version` builds it as
  # released, with its own go.sum.
  (cd /tmp && CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOMAXPROCS="$jobs" GOBIN="$out.tmp" \
    nice -n 19 go install -p "$jobs" -trimpath -ldflags "$ldflags" \
    "istio.io/istio/pilot/cmd/$cmd@$ISTIO_VERSION")
  rm -rf "$out" && mv "$out.tmp" "$out"
  step "built in $((SECONDS - start)) s"
fi
echo "$out/$cmd"
