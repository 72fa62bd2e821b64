#!/usr/bin/env bash
# `make test`: every test that exists — unit (TypeScript, and the sidecar agent's Go), the images, integration (real API server, real
# Envoy, pods in real containers from the images), e2e, then the devcluster's own start/stop tests — on the devcluster, which it starts if
# it is not running (and stops again at the end). Ends with one line: `tests: N passed, M failed`.
# Extra arguments go to jest (e.g. scripts/test.sh --selectProjects unit).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/.devcluster/test-results"
mkdir -p "$out"
rm -f "$out"/*.json
jest=(node --experimental-vm-modules node_modules/jest/bin/jest.js)

started=0
if ! tools/devcluster/devcluster status >/dev/null 2>&1; then
  tools/devcluster/devcluster up || { echo "tests: 0 passed, 1 failed"; exit 1; }
  started=1
else
  # A cluster that was running: its node gets the images of this checkout (only what changed
  # is built and imported).
  tools/devcluster/devcluster images || { echo "tests: 0 passed, 1 failed"; exit 1; }
fi

code=0
if (($# > 0)); then
  "${jest[@]}" --json --outputFile="$out/selected.json" "$@" || code=1
else
  "${jest[@]}" --selectProjects unit --json --outputFile="$out/unit.json" || code=1
  # The sidecar agent's own tests (Go), counted in the same summary.
  (cd src/sidecar/agent && go test -json ./... 2>&1) | node scripts/go-test-report.js "$out/agent-go.json" || code=1
  # The images, built as `make images` builds them (buildah here, bases made locally) and run:
  # no cluster needed. Cold about 4 minutes, warm under one (BENCHMARKS.md, images).
  "${jest[@]}" --selectProjects images --maxWorkers=1 --json --outputFile="$out/images.json" || code=1
  # One file at a time against the one cluster: some install cluster-wide objects (CRDs, webhook
  # configurations, the chart) that others must not see. (On 2 CPUs jest runs one worker anyway;
  # a bigger machine must not change that.)
  "${jest[@]}" --selectProjects integration --maxWorkers=1 --json --outputFile="$out/integration.json" || code=1
  # The e2e suite installs Trellis in the cluster with its chart: after the integration tests,
  # which run their own control planes.
  "${jest[@]}" --selectProjects e2e --maxWorkers=1 --json --outputFile="$out/e2e.json" || code=1
  # Last and alone: these stop and start the cluster under everyone's feet.
  "${jest[@]}" --selectProjects lifecycle --maxWorkers=1 --json --outputFile="$out/lifecycle.json" || code=1
fi

if [[ "$started" == 1 && -z "${KEEP_CLUSTER:-}" ]]; then tools/devcluster/devcluster down; fi

node -e '
  const fs = require("fs"), path = require("path");
  const dir = process.argv[1];
  let passed = 0, failed = 0, files = 0;
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const r = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
    files++;
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    // A suite that failed to run counts as one failure: its tests never ran.
    failed += r.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
  }
  if (files === 0) failed = 1;
  console.log(`tests: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
' "$out" || code=1
exit "$code"
