#!/usr/bin/env bash
# Builds the three images from images/Dockerfile.* as trellis/{controller,proxy,echo}:$IMAGE_TAG
# (default dev), from the repo root, with Envoy's version from tools/devcluster/versions.env.
#   scripts/images.sh          build (what changed only: the builders' layer caches)
#   scripts/images.sh sizes [REF...]  each image's size, uncompressed and compressed (gzip
#                              layers, as a registry holds them); default the three images
# IMAGE_BUILDER: docker where a Docker daemon answers (a user's machine, GitHub Actions: the
# bases are pulled), else buildah (no daemon; root; runc), with the bases made locally from
# registry packages by scripts/image-bases.sh when no registry can be reached.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }
# shellcheck source=../tools/devcluster/versions.env
source "$root/tools/devcluster/versions.env"
tag="${IMAGE_TAG:-dev}"
names=(controller proxy echo)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$root/images/containers.conf}"

# One version of Envoy: the Dockerfile's default (for a plain `docker build`) must be the pinned one.
arg="$(sed -nE 's/^ARG ENVOY_VERSION=(.*)$/\1/p' "$root/images/Dockerfile.proxy")"
[[ "$arg" == "$ENVOY_VERSION" ]] \
  || die "images/Dockerfile.proxy has ARG ENVOY_VERSION=$arg but tools/devcluster/versions.env pins $ENVOY_VERSION: make them equal"

builder="${IMAGE_BUILDER:-}"
if [[ -z "$builder" ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker; else builder=buildah; fi
fi

# buildah's tools, installed as scripts/setup.sh installs system packages.
need_buildah() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v runc >/dev/null || missing+=(runc)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  ((${#missing[@]})) || return 0
  [[ "$(id -u)" == 0 ]] || die "needs ${missing[*]}: run as root to install them"
  command -v apt-get >/dev/null || die "cannot install ${missing[*]}: apt-get not found (install them by hand)"
  say "installing system packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The build arguments of image $1: for the proxy, Envoy's version and this machine's Go module
# proxy and checksum database (the agent's build stage fetches its modules as the host would).
build_args() {
  [[ "$1" == proxy ]] || return 0
  echo "--build-arg=ENVOY_VERSION=$ENVOY_VERSION"
  if command -v go >/dev/null; then
    echo "--build-arg=GOPROXY=$(go env GOPROXY)" "--build-arg=GOSUMDB=$(go env GOSUMDB)"
  fi
}

build() {
  local logs="$root/.devcluster/logs"
  mkdir -p "$logs"
  case "$builder" in
    docker)
      for name in "${names[@]}"; do
        say "docker build trellis/$name:$tag"
        # shellcheck disable=SC2046
        docker build $(build_args "$name") -f "$root/images/Dockerfile.$name" -t "trellis/$name:$tag" "$root"
      done
      ;;
    buildah)
      [[ "$(id -u)" == 0 ]] || die "the buildah build runs as root (IMAGE_BUILDER=docker for a Docker daemon)"
      need_buildah
      "$root/scripts/image-bases.sh"
      # The RUN steps' home (/root) is a folder of the host's: npm's cache survives the build
      # (a changed lock file downloads only what is new) and never lands in a layer, and npm
      # gets the host's registry and CA file (a machine whose TLS goes through a proxy of its
      # own trusts that proxy's CA, which Node's built-in list does not hold).
      local home="$root/.devcluster/cache/images/build-home"
      mkdir -p "$home"
      : >"$home/.npmrc"
      if command -v npm >/dev/null; then
        local cafile registry
        cafile="$(npm config get cafile 2>/dev/null || true)"
        registry="$(npm config get registry 2>/dev/null || true)"
        if [[ -n "$cafile" && "$cafile" != null && -f "$cafile" ]]; then
          cp "$cafile" "$home/ca.crt"
          echo "cafile=/root/ca.crt" >>"$home/.npmrc"
        fi
        [[ -n "$registry" && "$registry" != null ]] && echo "registry=$registry" >>"$home/.npmrc"
      fi
      for name in "${names[@]}"; do
        local log="$logs/image-$name.log" start=$SECONDS old
        old="$(buildah inspect --type image --format '{{.FromImageID}}' "trellis/$name:$tag" 2>/dev/null || true)"
        say "buildah bud trellis/$name:$tag (log: ${log#"$root/"})"
        # --layers: each step is cached and taken again while its inputs are the same (the
        # build stage is shared by the three). --network host: the RUN steps fetch from the
        # npm registry and Debian's mirror as the host does; nothing runs that listens.
        if ! buildah bud --layers --force-rm --pull=never --network host --isolation oci --volume "$home:/root" \
          $(build_args "$name") -f "$root/images/Dockerfile.$name" \
          -t "trellis/$name:$tag" "$root" >"$log" 2>&1; then
          tail -n 40 "$log" >&2
          die "building trellis/$name failed (log: $log)"
        fi
        say "  trellis/$name:$tag built in $((SECONDS - start))s"
        # The image it replaces goes (its layers stay while the cache uses them).
        if [[ -n "$old" && "$old" != "$(buildah inspect --type image --format '{{.FromImageID}}' "trellis/$name:$tag")" ]]; then
          buildah rmi "$old" >/dev/null 2>&1 || true
        fi
      done
      ;;
    *) die "IMAGE_BUILDER must be docker or buildah, not '$builder'" ;;
  esac
}

# Sizes as a registry would hold them: the layers gzip-compressed, and their sum unpacked.
sizes() {
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  local refs=("$@")
  ((${#refs[@]})) || for name in "${names[@]}"; do refs+=("trellis/$name:$tag"); done
  printf '%-32s %14s %14s\n' image uncompressed compressed
  for ref in "${refs[@]}"; do
    case "$builder" in
      docker) docker save "$ref" -o "$tmp/image.tar" ;;
      buildah) buildah push --quiet --compression-format gzip "$ref" "oci-archive:$tmp/image.tar:trellis/sizes" >/dev/null ;;
    esac
    python3 - "$tmp/image.tar" "$ref" <<'EOF'
import gzip, json, sys, tarfile, zlib
path, ref = sys.argv[1], sys.argv[2]
t = tarfile.open(path)
blob = lambda d: t.extractfile('blobs/' + d.replace(':', '/'))
index = json.load(t.extractfile('index.json'))
manifest = json.load(blob(index['manifests'][0]['digest']))
packed = unpacked = 0
for layer in manifest['layers']:
    data = blob(layer['digest']).read()
    gz = data[:2] == b'\x1f\x8b'
    raw = gzip.decompress(data) if gz else data
    packed += len(data) if gz else len(zlib.compress(raw, 6)) + 18
    unpacked += len(raw)
mb = lambda n: f'{n / 1e6:.1f} MB'
print(f'{ref:<32} {mb(unpacked):>14} {mb(packed):>14}')
EOF
    rm -f "$tmp/image.tar"
  done
}

case "${1:-build}" in
  build) build ;;
  sizes) shift; sizes "$@" ;;
  *) die "unknown command '$1' (build, sizes)" ;;
esac
