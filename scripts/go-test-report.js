#!/usr/bin/env node
// Reads `go test -json` events (the sidecar agent's tests) on stdin and writes, to the file named
// by the first argument, the parts of a jest --json report that scripts/test.sh counts
// (numPassedTests, numFailedTests, testResults with their assertionResults), so one summary line
// counts both. Top-level tests only (a subtest passes or fails with its parent). A package that
// did not build has no tests: it is a failed suite with no results, which the summary counts as
// one failure. The output of each failed test, and of a package that failed without tests, goes
// to stderr.
import fs from 'node:fs';

const events = fs
  .readFileSync(0, 'utf8')
  .split('\n')
  .flatMap((line) => {
    try {
      return [JSON.parse(line)];
    } catch {
      return line.trim() ? [{ Action: 'output', Output: `${line}\n` }] : [];
    }
  });
const packages = new Map();
const pkg = (name) => packages.get(name) ?? packages.set(name, { tests: new Map(), output: new Map(), status: 'passed', ran: false }).get(name);
for (const e of events) {
  const p = pkg(e.Package ?? '(go)');
  const key = e.Test ?? '';
  if (e.Action === 'output') p.output.set(key, (p.output.get(key) ?? '') + e.Output);
  if (e.Test && e.Test.includes('/')) continue;
  if ((e.Action === 'pass' || e.Action === 'fail') && e.Test) p.tests.set(e.Test, e.Action === 'pass' ? 'passed' : 'failed');
  if (e.Action === 'fail' && !e.Test) p.status = 'failed';
  if (e.Action === 'start' || e.Action === 'run') p.ran = true;
}
const testResults = [];
let passed = 0;
let failed = 0;
for (const [name, p] of packages) {
  const assertionResults = [...p.tests].map(([title, status]) => ({ title, status }));
  passed += assertionResults.filter((a) => a.status === 'passed').length;
  failed += assertionResults.filter((a) => a.status === 'failed').length;
  for (const a of assertionResults.filter((x) => x.status === 'failed')) process.stderr.write(`--- FAIL: ${name} ${a.title}\n${p.output.get(a.title) ?? ''}`);
  if (p.status === 'failed' && assertionResults.length === 0) process.stderr.write(`--- FAIL: ${name}\n${p.output.get('') ?? ''}`);
  testResults.push({ name, status: p.status === 'failed' || assertionResults.some((a) => a.status === 'failed') ? 'failed' : 'passed', assertionResults });
}
// No test ran at all (no `go`, no module): a failure, not a silent pass.
if (passed + failed === 0) {
  process.stderr.write(`--- FAIL: go test ran no test\n${[...packages.values()].map((p) => p.output.get('') ?? '').join('')}`);
  testResults.push({ name: 'go test', status: 'failed', assertionResults: [] });
}
fs.writeFileSync(process.argv[2], JSON.stringify({ numPassedTests: passed, numFailedTests: failed, testResults }));
process.stdout.write(`go test (src/sidecar/agent): ${passed} passed, ${failed} failed${testResults.some((r) => r.status === 'failed' && r.assertionResults.length === 0) ? ', a package failed to build or run' : ''}\n`);
process.exit(testResults.some((r) => r.status === 'failed') ? 1 : 0);
