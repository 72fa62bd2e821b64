// Golden translation cases, as data: each folder of test/fixtures/golden/ is one case.
//   input.yaml   Kubernetes Services, EndpointSlices, Pods, Namespaces, Secrets and Istio config,
//                loaded as the controllers load them (an invalid object fails, naming the file)
//   proxy.yaml   the proxy that asks: type (sidecar, gateway, proxyless), namespace, labels, ip,
//                serviceAccount, options (e.g. outboundPolicy)
//   listeners.json routes.json clusters.json endpoints.json secrets.json
//                what the control plane gives that proxy, per xDS type, exactly as
//                `trellisctl proxy-config KIND POD -o json` prints it (private keys redacted)
// Every produced resource also encodes as its Envoy message, every EDS cluster has an
// assignment, and every cluster a route or tcp_proxy names exists.
//
// After an intended change, rewrite the expected files with
//   make golden
// (UPDATE_GOLDEN=1 on this test) and review their diff like code. A new case is a new folder
// with input.yaml and proxy.yaml; `make golden` writes its outputs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Snapshot } from '../../src/xds/snapshot.js';
import { encodeMessage } from '../../src/xds/protos.js';
import { messageName, TypeUrl } from '../../src/xds/types.js';
import { CASE_INPUTS, goldenCaseNames, goldenOutputs, goldenSnapshot, loadGoldenCase, OUTPUT_KINDS, type GoldenCase, type OutputKind } from '../support/golden-cases.js';
import { decoded } from '../support/mesh-fixtures.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';

const XDS_NAME: Record<OutputKind, string> = { listeners: 'LDS', routes: 'RDS', clusters: 'CDS', endpoints: 'EDS', secrets: 'SDS' };

/** Every cluster name a route configuration or a listener's filters point at. */
function referencedClusters(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) referencedClusters(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.type_url === 'string' && o.value !== undefined) {
      // The retry host predicate is an empty message: nothing to look into.
      return o.type_url.endsWith('.PreviousHostsPredicate') ? out : referencedClusters(decoded(o), out);
    }
    if (typeof o.cluster === 'string') out.add(o.cluster);
    const weighted = o.weighted_clusters as { clusters?: Array<{ name?: string }> } | undefined;
    for (const c of weighted?.clusters ?? []) if (c.name) out.add(c.name);
    for (const [k, v] of Object.entries(o)) if (k !== 'cluster') referencedClusters(v, out);
  }
  return out;
}

/** A file's resources by their name, so a difference is located by resource rather than index. */
function byName(json: unknown): unknown {
  if (!Array.isArray(json)) return json;
  return Object.fromEntries(json.map((r: Record<string, unknown>, i) => [String(r.name ?? r.cluster_name ?? `[${i}]`), r]));
}

/** Where two JSON values first differ, as a path (`outbound|9080||reviews…` › `lb_policy`). */
function firstDifference(a: unknown, b: unknown, at: string[] = []): string | undefined {
  if (JSON.stringify(a) === JSON.stringify(b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ao), ...Object.keys(bo)])]) {
      const d = firstDifference(ao[k], bo[k], [...at, k]);
      if (d !== undefined) return d;
    }
  }
  return at.join(' › ') || '(the whole file)';
}

function expectGolden(c: GoldenCase, kind: OutputKind, actual: string): void {
  const file = path.join(c.dir, `${kind}.json`);
  const rel = path.relative(process.cwd(), file);
  if (UPDATE) {
    fs.writeFileSync(file, actual);
    return;
  }
  if (!fs.existsSync(file)) throw new Error(`golden case ${c.name}, ${kind} (${XDS_NAME[kind]}): ${rel} is missing; write it with \`make golden\``);
  const golden = fs.readFileSync(file, 'utf8');
  try {
    expect(actual).toBe(golden);
  } catch (err) {
    // jest's line diff (- expected file, + produced) follows; say which case and type, where, and how to accept it.
    let where: string | undefined;
    try {
      where = firstDifference(byName(JSON.parse(golden)), byName(JSON.parse(actual)));
    } catch {
      where = '(the expected file is not valid JSON)';
    }
    if (err instanceof Error) {
      err.message = `golden case ${c.name}, ${kind} (${XDS_NAME[kind]}): the produced resources differ from ${rel}, first at ${where ?? '(formatting only)'}; if intended, run \`make golden\`\n\n${err.message}`;
    }
    throw err;
  }
}

const once = <T>(f: () => T): (() => T) => {
  let v: { value: T } | undefined;
  return () => (v ??= { value: f() }).value;
};

describe.each(goldenCaseNames())('%s', (name) => {
  // Loaded in the tests, so that an invalid input fails them with the file and the error.
  const load = once(() => loadGoldenCase(name));
  const snapshot = once((): Snapshot => goldenSnapshot(load()));

  test('input.yaml and proxy.yaml load as the control plane would read them', () => {
    expect(load().proxy.kind).not.toBe('unknown');
  });

  test('every resource encodes as its Envoy message', () => {
    for (const [type, resources] of Object.entries(snapshot())) {
      for (const [rname, r] of resources as Map<string, object>) expect(() => encodeMessage(messageName(type), r)).not.toThrow(rname);
    }
  });

  test('every EDS cluster has an assignment and every referenced cluster exists', () => {
    const s = snapshot();
    const clusters = s[TypeUrl.Cluster] ?? new Map();
    const eds = [...clusters.values()].filter((c) => c.type === 'EDS').map((c) => c.name);
    expect([...(s[TypeUrl.Endpoint]?.keys() ?? [])].sort()).toEqual(eds.sort());
    const refs = referencedClusters([...(s[TypeUrl.Listener]?.values() ?? []), ...(s[TypeUrl.Route]?.values() ?? [])]);
    expect([...refs].filter((c) => !clusters.has(c))).toEqual([]);
  });

  test.each(OUTPUT_KINDS.map((k) => [k, XDS_NAME[k], k]))(`%s (%s) equal ${name}/%s.json`, (kind) => {
    expectGolden(load(), kind as OutputKind, goldenOutputs(load(), snapshot())[kind as OutputKind]);
  });

  test('the translation is deterministic (a second load and run give the same files)', () => {
    const again = loadGoldenCase(name);
    expect(goldenOutputs(again, goldenSnapshot(again))).toEqual(goldenOutputs(load(), snapshot()));
  });

  test('the folder holds the two inputs and the expected files, nothing else', () => {
    if (UPDATE) return;
    const want = [...CASE_INPUTS, ...OUTPUT_KINDS.map((k) => `${k}.json`)].sort();
    expect(fs.readdirSync(load().dir).sort()).toEqual(want);
  });
});

describe('a case whose input is wrong fails, naming the file and what is wrong', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'golden-'));
    fs.mkdirSync(path.join(dir, 'bad'));
    fs.writeFileSync(path.join(dir, 'bad/proxy.yaml'), 'type: sidecar\nnamespace: default\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, text: string) => fs.writeFileSync(path.join(dir, 'bad', file), text);

  test('an invalid Istio object: the controllers would reject it', () => {
    write(
      'input.yaml',
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: -1\n',
    );
    expect(() => loadGoldenCase('bad', { dir })).toThrow(/bad\/input\.yaml: document 1 \(VirtualService default\/reviews\): invalid.*\n.*VirtualService default\/reviews: spec\.http\[0\]\.route\[0\]\.weight/);
  });

  test('a kind the control plane does not read', () => {
    write('input.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n');
    expect(() => loadGoldenCase('bad', { dir })).toThrow(/bad\/input\.yaml: document 1 \(Deployment default\/web\): the control plane does not read kind "Deployment"/);
  });

  test('a misspelt key in proxy.yaml', () => {
    write('input.yaml', '');
    write('proxy.yaml', 'type: sidecar\nnamespace: default\nlabel: {app: web}\n');
    expect(() => loadGoldenCase('bad', { dir })).toThrow(/bad\/proxy\.yaml: unknown key "label"/);
  });
});
