// The golden set (every feature the translation supports): every produced resource encodes as
// its Envoy message, names are unique per type, every EDS cluster has an assignment, and every
// cluster a route or tcp_proxy names exists (or is knowingly left to Envoy's 503: none here).
// And the produced resources themselves, as readable JSON, equal the golden files under
// test/fixtures/translate-golden/ (one per scenario). After an intended change, rewrite them with
//   UPDATE_GOLDEN=1 node --experimental-vm-modules node_modules/jest/bin/jest.js test/unit/translate-golden.test.ts
// and review the diff of the files like code.
import fs from 'node:fs';
import path from 'node:path';
import { sidecarSnapshot } from '../../src/translate/snapshot.js';
import { decoded } from '../support/mesh-fixtures.js';
import { scenarios } from '../support/golden-scenarios.js';
import type { Snapshot } from '../../src/xds/snapshot.js';
import { encodeMessage, messageType } from '../../src/xds/protos.js';
import { messageName, SHORT_NAME, TypeUrl } from '../../src/xds/types.js';

const FILES = { ca: '/certs/ca.pem', cert: '/certs/cert.pem', key: '/certs/key.pem' };
const GOLDEN_DIR = path.join(process.cwd(), 'test/fixtures/translate-golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

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

// --- golden files ---------------------------------------------------------------------------

/** `bookinfo productpage, every feature` → `bookinfo-productpage-every-feature`. */
function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

function isAny(o: Record<string, unknown>): boolean {
  return typeof o.type_url === 'string' && Object.keys(o).every((k) => k === 'type_url' || k === 'value');
}

/**
 * A google.protobuf.Any as a plain object with its `@type`: decoded with Envoy's protos (fields
 * left at their proto default omitted, enums and 64-bit integers as strings, like a config dump).
 */
function decodeAny(o: Record<string, unknown>): Record<string, unknown> {
  const typeUrl = o.type_url as string;
  const raw = o.value;
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw instanceof Uint8Array ? raw : new Uint8Array();
  const t = messageType(messageName(typeUrl));
  return { '@type': typeUrl, ...(t.toObject(t.decode(bytes), { longs: String, enums: String }) as Record<string, unknown>) };
}

/** Plain, stable JSON: sorted keys, no undefined, bytes as base64, every Any decoded (nested too). */
function readable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(readable);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value && typeof value === 'object') {
    let o = value as Record<string, unknown>;
    if (isAny(o)) o = decodeAny(o);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) if (o[k] !== undefined) out[k] = readable(o[k]);
    return out;
  }
  return value;
}

/** The snapshot by type (cds, eds, lds, rds) and resource name, as pretty JSON. */
function goldenText(snapshot: Snapshot): string {
  const byType: Record<string, Record<string, unknown>> = {};
  for (const [type, resources] of Object.entries(snapshot) as Array<[TypeUrl, ReadonlyMap<string, object> | undefined]>) {
    const named: Record<string, unknown> = {};
    for (const [name, r] of resources ?? []) named[name] = r;
    byType[`${SHORT_NAME[type]} (${messageName(type)})`] = named;
  }
  return `${JSON.stringify(readable(byType), null, 2)}\n`;
}

/** Where two JSON values first differ, as a path (`cds (…)` › `BlackHoleCluster` › `connect_timeout`). */
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

function expectGolden(file: string, actual: string): void {
  const full = path.join(GOLDEN_DIR, file);
  if (UPDATE) {
    fs.mkdirSync(GOLDEN_DIR, { recursive: true });
    fs.writeFileSync(full, actual);
    return;
  }
  if (!fs.existsSync(full)) throw new Error(`golden file ${path.relative(process.cwd(), full)} is missing: run the test with UPDATE_GOLDEN=1 to write it`);
  const golden = fs.readFileSync(full, 'utf8');
  try {
    expect(actual).toBe(golden);
  } catch (err) {
    // jest's line diff (- golden, + produced) follows; say which file, where, and how to accept it.
    let where: string | undefined;
    try {
      where = firstDifference(JSON.parse(golden), JSON.parse(actual));
    } catch {
      where = '(the golden file is not valid JSON)';
    }
    const rel = path.relative(process.cwd(), full);
    if (err instanceof Error) err.message = `produced resources differ from ${rel}, first at ${where ?? '(formatting only)'}; if intended, rerun with UPDATE_GOLDEN=1\n\n${err.message}`;
    throw err;
  }
}

const all = scenarios(FILES);

describe.each(all.map((s) => [s.name, s] as const))('%s', (_name, s) => {
  const snapshot = sidecarSnapshot(s.mesh, s.proxy, s.options);

  test('every resource encodes as its Envoy message', () => {
    for (const [type, resources] of Object.entries(snapshot)) {
      for (const [name, r] of resources as Map<string, object>) expect(() => encodeMessage(messageName(type), r)).not.toThrow(name);
    }
  });

  test('every EDS cluster has an assignment and every referenced cluster exists', () => {
    const clusters = snapshot[TypeUrl.Cluster] ?? new Map();
    const eds = [...clusters.values()].filter((c) => c.type === 'EDS').map((c) => c.name);
    expect([...(snapshot[TypeUrl.Endpoint]?.keys() ?? [])].sort()).toEqual(eds.sort());
    const refs = referencedClusters([...(snapshot[TypeUrl.Listener]?.values() ?? []), ...(snapshot[TypeUrl.Route]?.values() ?? [])]);
    const missing = [...refs].filter((c) => !clusters.has(c));
    expect(missing).toEqual([]);
  });

  test(`the produced resources equal test/fixtures/translate-golden/${slug(s.name)}.json`, () => {
    expectGolden(`${slug(s.name)}.json`, goldenText(snapshot));
  });

  test('the translation is deterministic (a second run gives the same golden text)', () => {
    expect(goldenText(sidecarSnapshot(s.mesh, s.proxy, s.options))).toBe(goldenText(snapshot));
  });
});

test('scenario names give distinct golden files, and no golden file is left without a scenario', () => {
  const files = all.map((s) => `${slug(s.name)}.json`);
  expect(new Set(files).size).toBe(files.length);
  if (UPDATE) return;
  const onDisk = fs.existsSync(GOLDEN_DIR) ? fs.readdirSync(GOLDEN_DIR).filter((f) => f.endsWith('.json')) : [];
  expect(onDisk.filter((f) => !files.includes(f)).sort()).toEqual([]);
});
