#!/usr/bin/env bash
# Builds the sidecar agent (src/sidecar/agent, Go) into dist/agent/trellis-agent: a static binary
# (CGO off) that the proxy image carries and the tests run. Go fetches its modules through the
# machine's own Go configuration (GOPROXY, GOFLAGS), cached in the module cache.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v go >/dev/null || { echo "build-agent: Go is required: 'go' is not in PATH (Go 1.26 or newer; src/sidecar/agent/go.mod)" >&2; exit 1; }
mkdir -p "$root/dist/agent"
cd "$root/src/sidecar/agent"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$root/dist/agent/trellis-agent" .
