#!/usr/bin/env bash
# `make bench`: runs every compiled benchmark in dist/bench/. Each prints its own numbers;
# record them in BENCHMARKS.md with the machine and the date.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shopt -s nullglob
benches=("$root"/dist/bench/*.js)
((${#benches[@]})) || { echo "no benchmarks in bench/ yet"; exit 0; }
for b in "${benches[@]}"; do echo "== $(basename "$b" .js)"; node "$b"; done
