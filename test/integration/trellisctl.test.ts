// trellisctl's offline commands, as a user runs them: the built CLI on the shared tables.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { loadFixtures } from '../fixtures/load.js';
import { root, run } from '../support/cluster.js';

const cli = path.join(root, 'dist/src/cli/main.js');
const ctl = (args: string[]): ReturnType<typeof run> => run(process.execPath, [cli, ...args]);

test('analyze passes every valid example, printing what Istio would warn about', async () => {
  const r = await ctl(['analyze', '-f', path.join(root, 'test/fixtures/valid')]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`✔ ${loadFixtures('valid').length} networking objects are valid`);
  expect(r.stdout).toContain('] DestinationRule default/reviews-selector-empty: spec.workloadSelector: has no labels: the rule applies to every workload of its namespace');
  expect(r.stdout.split('\n').filter((l) => l.startsWith('Warning ['))).toHaveLength(1);
});

test('analyze reports every invalid manifest with the webhook message and exits 1', async () => {
  const invalid = loadFixtures('invalid');
  const r = await ctl(['analyze', '-f', path.join(root, 'test/fixtures/invalid')]);
  expect(r.code).toBe(1);
  for (const f of invalid) for (const m of f.expect) expect(r.stdout).toContain(`Error [${f.path}] ${m}`);
  expect(r.stdout).toContain(`${invalid.length} of ${invalid.length} networking objects are invalid`);
});

test('kube-inject injects pod templates like the webhook, and leaves other objects alone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-'));
  const file = path.join(dir, 'app.yaml');
  fs.writeFileSync(
    file,
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: trellis/echo}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
`,
  );
  const r = await ctl(['kube-inject', '-f', file]);
  expect(r.code).toBe(0);
  const [dep, svc] = loadAllYaml(r.stdout) as { kind: string; spec: { template?: { spec: { initContainers: { name: string }[] } } } }[];
  expect(dep.spec.template?.spec.initContainers.map((c) => c.name)).toEqual(['trellis-init', 'trellis-proxy']);
  expect(svc.kind).toBe('Service');
  fs.rmSync(dir, { recursive: true });
});

test('version and help; an unknown command exits 2', async () => {
  expect((await ctl(['version'])).stdout).toMatch(/^trellisctl \d+\.\d+\.\d+/);
  expect((await ctl(['help'])).stdout).toContain('analyze -f FILE|DIR|-');
  const bad = await ctl(['frob']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('unknown command "frob"');
});
