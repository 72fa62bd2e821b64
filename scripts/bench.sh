#!/usr/bin/env bash
# `make bench`: runs every compiled benchmark in dist/bench/ and every benchmark script
# bench/*.sh (e.g. mtls-latency.sh, which drives fortio). Each prints its own numbers; record
# them in BENCHMARKS.md with the machine and the date.
# `scripts/bench.sh NAME...` runs only those, e.g. `scripts/bench.sh mtls-latency agent-rss`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shopt -s nullglob
benches=("$root"/dist/bench/*.js "$root"/bench/*.sh)
((${#benches[@]})) || { echo "no benchmarks in bench/ yet"; exit 0; }
wanted=" $* "
for b in "${benches[@]}"; do
  name="$(basename "${b%.*}")"
  [[ $# -eq 0 || "$wanted" == *" $name "* ]] || continue
  echo "== $name"
  case "$b" in
    *.sh) "$b" ;;
    *) node "$b" ;;
  esac
done
