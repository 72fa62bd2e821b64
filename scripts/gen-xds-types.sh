#!/usr/bin/env bash
# Generates TypeScript types for the Envoy protos Trellis uses (the list in
# src/xds/proto-files.ts) with @grpc/proto-loader's proto-loader-gen-types, into the git-ignored
# src/xds/generated/. Types only: the code imports them with `import type`, so running tests
# does not need this step; type checking and building do.
set -euo pipefail
cd "$(dirname "$0")/.."

out=src/xds/generated
deps=node_modules/@grpc/grpc-js-xds/deps
[[ -d "$deps/envoy-api" ]] || { echo "gen-xds-types: $deps not found (run npm ci)" >&2; exit 1; }

mapfile -t files < <(grep -oE "'[A-Za-z0-9_./-]+\.proto'" src/xds/proto-files.ts | tr -d "'")
[[ ${#files[@]} -gt 0 ]] || { echo "gen-xds-types: no .proto files listed in src/xds/proto-files.ts" >&2; exit 1; }

# Skip the work when the inputs did not change.
stamp="$(printf '%s\n' "${files[@]}" "$(grep '"version"' node_modules/@grpc/grpc-js-xds/package.json node_modules/@grpc/proto-loader/package.json)" "$(cat "$0")" | sha256sum | cut -c1-16)"
if [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" ]]; then exit 0; fi

tmp="$(mktemp -d "${out}.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# mktemp makes it private (0700): a user's `make lint` must read what a root `make test` wrote.
chmod u=rwx,go=rx "$tmp"
# Options match the decoder in src/xds/protos.ts (keepCase, longs and enums as strings,
# defaults and oneofs filled in on decoded messages).
node node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js \
  --keepCase --longs=String --enums=String --defaults --oneofs --includeComments \
  --grpcLib=@grpc/grpc-js \
  --includeDirs "$deps/envoy-api" "$deps/xds" "$deps/googleapis" "$deps/protoc-gen-validate" \
  -O "$tmp" "${files[@]}" >/dev/null

# One ProtoGrpcType file per input is written at the top: only loadPackageDefinition's typing
# uses them (Trellis does not), and they trip noUnusedLocals.
find "$tmp" -maxdepth 1 -name '*.ts' -delete
# Field-less messages become empty interfaces, which eslint flags: allow them where they occur.
grep -PzlZ 'interface \w+ \{\s*\}' -r "$tmp" --include='*.ts' \
  | xargs -0 -r sed -i '1i /* eslint-disable @typescript-eslint/no-empty-object-type */'
# The generated files import each other without file extensions: mark the folder CommonJS so
# TypeScript (module NodeNext) resolves them; they are type-only, so nothing runs from here.
printf '{ "type": "commonjs" }\n' >"$tmp/package.json"
# Generated, never committed.
printf '*\n' >"$tmp/.gitignore"
echo "$stamp" >"$tmp/.stamp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "gen-xds-types: wrote $(find "$out" -name '*.ts' | wc -l) files to $out"
