// The agent's root-file watcher: a changed bundle is handed on once, whether the kubelet swaps
// the volume's ..data link or the file is rewritten; anything but CA certificates is refused
// (logged once) and the last good bundle stays.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MeshCa } from '../../src/ca/authority.js';
import { checkRootBundle, RootWatcher } from '../../src/sidecar/root-watch.js';
import type { Logger } from '../../src/util/logger.js';

const logged: string[] = [];
const log = { info: () => undefined, warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m), debug: () => undefined } as unknown as Logger;

let a: string;
let b: string;
let leaf: string;
beforeAll(async () => {
  const [ca1, ca2] = await Promise.all([MeshCa.create({ trustDomain: 'cluster.local' }), MeshCa.create({ trustDomain: 'cluster.local' })]);
  [a, b] = [ca1.rootPem, ca2.rootPem];
  leaf = (await ca1.issueServing(['x.example'], 1)).cert;
});

test('a bundle must hold CA certificates only', () => {
  expect(checkRootBundle(a + b)).toHaveLength(2);
  expect(() => checkRootBundle('')).toThrow(/no PEM certificate/);
  expect(() => checkRootBundle(a + leaf)).toThrow(/certificate 2 .* is not a CA certificate/);
  expect(() => checkRootBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).toThrow(/certificate 1 does not parse/);
});

test('changes are handed on once each; a bad file is refused once and the good bundle kept', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-rootwatch-'));
  const file = path.join(dir, 'root-cert.pem');
  fs.writeFileSync(file, a);
  const seen: string[] = [];
  const w = new RootWatcher({ file, log, pollMs: 60_000, onChange: (pem) => void seen.push(pem) }, a);
  try {
    await w.check();
    expect(seen).toEqual([]);
    fs.writeFileSync(file, b + a);
    await w.check();
    await w.check();
    expect(seen).toEqual([b + a]);
    logged.length = 0;
    fs.writeFileSync(file, leaf);
    await w.check();
    await w.check();
    expect(seen).toEqual([b + a]);
    expect(w.accepted).toBe(b + a);
    expect(logged).toEqual(['refusing the changed root certificate file; keeping the current roots']);
    fs.rmSync(file);
    await w.check(); // gone for a moment: nothing happens
    fs.writeFileSync(file, b);
    await w.check();
    expect(seen).toEqual([b + a, b]);
  } finally {
    w.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
