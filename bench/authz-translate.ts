// Benchmark of the authorization translation (src/translate/workload-security.ts and authz-*.ts),
// in process, no network. A mesh of S services and P AuthorizationPolicies (default 1,000) in a
// realistic mix: namespace-wide and selector policies; ALLOW with principals, namespaces, paths
// (exact, prefix, suffix) and methods, some with 5–10 rules; DENY with ipBlocks and header
// conditions. Of the P policies, N apply to the workload under test (endpoint 0 of svc-0 in
// namespace `bench`) and P − N do not (they select other workloads of `bench`, or live in other
// namespaces), so only the number that applies changes between rows, not the mesh's size:
//  (1) workloadSecurity(mesh, ns, labels) for N = 0 / 10 / 100 / 1,000: selection of the
//      policies plus their RBAC configurations, encoded into typed_config as the translation
//      does: the sidecar's rules per route (RBACPerRoute for the inbound routes' virtual host),
//      the TCP chains' network RBAC filters, and the gateway form (HTTP RBAC filters); per rule
//      as well; (1b) where that time goes at the largest N;
//  (2) a full sidecarSnapshot of that workload (outbound to S services too) with those N
//      policies, and the encoded size of its inbound listener (`virtualInbound`: the TCP chains
//      hold the network RBAC filters) and of its inbound route configurations (over RDS: the
//      HTTP rules, once per inbound HTTP port);
//  (3) selecting the policies (Mesh.authorizationPoliciesFor) for W = 1,000 different workloads:
//      P policies spread over 10 namespaces, and all P in the workloads' one namespace; cold
//      (first call on a new Mesh, the index included) and warm; and workloadSecurity for them.
//
//   npx tsc -p tsconfig.json && node --expose-gc dist/bench/authz-translate.js [--policies 1000] [--services 100] [--workloads 1000] [--runs 5]
//
// Record results in BENCHMARKS.md with the machine and the date.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { AuthorizationPolicySpec, Rule } from '../src/api/authorization-policy.js';
import type { Config, ConfigOf } from '../src/model/config-store.js';
import type { Mesh } from '../src/model/mesh.js';
import { authorizationHttpFilters, authorizationNetworkFilters, inboundAuthorization } from '../src/translate/authz-chain.js';
import { rbacConfigs } from '../src/translate/authz-filters.js';
import { VIRTUAL_INBOUND_LISTENER } from '../src/translate/names.js';
import { sidecarSnapshot } from '../src/translate/snapshot.js';
import { buildMesh, config, sidecar, type ServiceFixture } from '../test/support/mesh-fixtures.js';
import { workloadSecurity } from '../src/translate/workload-security.js';
import { setLogLevel } from '../src/util/logger.js';
import type { Listener } from '../src/xds/generated/envoy/config/listener/v3/Listener.js';
import type { RouteConfiguration } from '../src/xds/generated/envoy/config/route/v3/RouteConfiguration.js';
import { encodeMessage } from '../src/xds/protos.js';
import { messageName, TypeUrl } from '../src/xds/types.js';
import { arg } from './args.js';

const POLICIES = arg('policies', 1000);
const SERVICES = arg('services', 100);
const WORKLOADS = arg('workloads', 1000);
const RUNS = arg('runs', 5);
const NS = 'bench';
const OTHER_NAMESPACES = 10;
const APPLYING = [0, 10, 100, 1000].filter((n) => n <= POLICIES);

const svcName = (i: number) => `svc-${i}`;
const endpointIp = (i: number, k: number) => `10.${1 + (i >> 8)}.${i & 255}.${k + 1}`;
const TARGET_LABELS = { app: svcName(0), version: 'v1' };

function services(): ServiceFixture[] {
  return Array.from({ length: SERVICES }, (_, i) => ({
    namespace: NS,
    name: svcName(i),
    clusterIP: `10.96.${i >> 8}.${(i & 255) + 1}`,
    // An HTTP port and a TCP port: the inbound listener has chains of both kinds.
    ports: [
      { name: 'http', port: 80, targetPort: 8080 },
      { name: 'tcp-db', port: 5432, targetPort: 5432 },
    ],
    endpoints: Array.from({ length: 2 }, (_, k) => ({ address: endpointIp(i, k), labels: { app: svcName(i), version: k % 2 === 0 ? 'v1' : 'v2' } })),
  }));
}

const principal = (ns: string, sa: string) => `cluster.local/ns/${ns}/sa/${sa}`;
const METHODS = [['GET'], ['GET', 'HEAD'], ['POST', 'PUT'], ['DELETE'], ['GET', 'POST', 'PATCH']];

/** The spec of policy i: one of five kinds, as a mesh's policies mix them. */
function spec(i: number, selector: Record<string, string> | undefined): AuthorizationPolicySpec {
  const sel = selector ? { selector: { matchLabels: selector } } : {};
  switch (i % 5) {
    case 0: // ALLOW callers by principal to an API's paths and methods (1 rule).
      return {
        ...sel,
        action: 'ALLOW',
        rules: [
          {
            from: [{ source: { principals: [principal(`team-${i % 37}`, `frontend-${i}`), principal(`team-${i % 37}`, `worker-${i}`)] } }],
            to: [{ operation: { methods: METHODS[i % METHODS.length], paths: [`/api/v${i % 3}/items/${i}`, `/api/v${i % 3}/orders/*`, '*/status'] } }],
          },
        ],
      };
    case 1: {
      // ALLOW from namespaces, 5–10 rules, each to its own paths.
      const n = 5 + (i % 6);
      const rules: Rule[] = Array.from({ length: n }, (_, r) => ({
        from: [{ source: { namespaces: [`ns-${(i + r) % 50}`, `ns-${(i + r + 1) % 50}`] } }],
        to: [{ operation: { methods: METHODS[(i + r) % METHODS.length], paths: [`/svc${i}/r${r}/*`, `*.json`], notPaths: [`/svc${i}/r${r}/internal/*`] } }],
      }));
      return { ...sel, action: 'ALLOW', rules };
    }
    case 2: // DENY source IP blocks and a header.
      return {
        ...sel,
        action: 'DENY',
        rules: [
          {
            from: [{ source: { ipBlocks: [`192.168.${i & 255}.0/24`, `172.16.${i & 255}.0/24`, `10.200.${i & 255}.7`] } }],
            when: [{ key: 'request.headers[x-blocked-client]', values: [`client-${i}`, `client-${i}-*`] }],
          },
        ],
      };
    case 3: {
      // ALLOW service accounts / principals with a wildcard, header condition (2–3 rules).
      const n = 2 + (i % 2);
      const rules: Rule[] = Array.from({ length: n }, (_, r) => ({
        from: [{ source: { principals: [`*/sa/batch-${i}-${r}`], notNamespaces: ['untrusted'] } }],
        to: [{ operation: { ports: ['8080'], methods: ['POST'], paths: [`/jobs/${i}/*`] } }],
        when: [{ key: 'request.headers[x-tenant]', values: [`tenant-${i}`, `tenant-${r}`] }],
      }));
      return { ...sel, action: 'ALLOW', rules };
    }
    default: // DENY admin paths to everyone but the ops principal, with a header condition.
      return {
        ...sel,
        action: 'DENY',
        rules: [
          {
            from: [{ source: { notPrincipals: [principal('ops', `admin-${i}`)] } }],
            to: [{ operation: { paths: [`/admin/${i}/*`, `/debug/${i}`] } }],
            when: [{ key: 'request.headers[user-agent]', notValues: ['ops-console/*'] }],
          },
        ],
      };
  }
}

/**
 * P policies of which `applying` apply to the target workload: of those, one in five is
 * namespace-wide in `bench` and the rest select app=svc-0 (half of them with version=v1 too);
 * the others select other workloads of `bench` (half) or are in other namespaces (half,
 * namespace-wide or selector).
 */
function policies(total: number, applying: number): ConfigOf<"AuthorizationPolicy">[] {
  const out: ConfigOf<"AuthorizationPolicy">[] = [];
  for (let i = 0; i < total; i++) {
    if (i < applying) {
      const selector = i % 5 === 4 ? undefined : i % 2 === 0 ? { app: svcName(0) } : { ...TARGET_LABELS };
      out.push(config('AuthorizationPolicy', NS, `ap-${i}`, spec(i, selector)));
    } else if (i % 2 === 0) {
      out.push(config('AuthorizationPolicy', NS, `ap-${i}`, spec(i, { app: svcName(1 + (i % (SERVICES - 1 || 1))) })));
    } else {
      const ns = `ns-${i % OTHER_NAMESPACES}`;
      out.push(config('AuthorizationPolicy', ns, `ap-${i}`, spec(i, i % 4 === 1 ? undefined : { app: `app-${i % 100}` })));
    }
  }
  return out;
}

const ruleCount = (cs: readonly Config<AuthorizationPolicySpec>[]) => cs.reduce((n, c) => n + (c.spec.rules?.length ?? 0), 0);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time (ms) of `runs` calls of `f` after one warm-up call; and the last result. */
function timed<T>(f: () => T, runs = RUNS): { ms: number; min: number; result: T } {
  let result = f();
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    // No global.gc() between runs: a forced full collection here makes the next run 2–3× slower
    // (measured), which is not what a running control plane sees.
    const t0 = performance.now();
    result = f();
    ms.push(performance.now() - t0);
  }
  return { ms: median(ms), min: Math.min(...ms), result };
}

const fmtMs = (x: number) => (x < 1 ? x.toFixed(3) : x < 10 ? x.toFixed(2) : x.toFixed(1));
const fmtUs = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;

function table(title: string, head: string[], rows: string[][]): void {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join(' | ')} |`;
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log(`|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

function filterBytes(any: { value?: Uint8Array } | undefined): number {
  return any?.value?.length ?? 0;
}

/** (1b) where workloadSecurity's time goes: building the RBAC objects, and encoding them (packAny). */
function breakdown(applying: Config<AuthorizationPolicySpec>[], rules: number, total: number): void {
  const httpObjects = timed(() => rbacConfigs(applying, false));
  const perRoute = timed(() => inboundAuthorization(applying));
  const http = timed(() => authorizationHttpFilters(applying));
  const tcpObjects = timed(() => rbacConfigs(applying, true));
  const tcp = timed(() => authorizationNetworkFilters(applying));
  const row = (label: string, ms: number) => [label, `${fmtMs(ms)} ms`, fmtUs(ms / rules)];
  table(`(1b) where the time goes, ${applying.length} policies (${rules} rules) applying; median of ${RUNS}`, ['step', 'time', 'per rule'], [
    row('HTTP rules as RBAC objects (rbacConfigs, not encoded)', httpObjects.ms),
    row('sidecar: HTTP rules per route, encoded (inboundAuthorization)', perRoute.ms),
    row('gateway form: HTTP RBAC filters, encoded (authorizationHttpFilters)', http.ms),
    row('TCP rules as RBAC objects (HTTP-only rules and fields dropped)', tcpObjects.ms),
    row('TCP: network RBAC filters, encoded (authorizationNetworkFilters)', tcp.ms),
    row('workloadSecurity (selection + all three, from (1))', total),
  ]);
}

/** (1) and (2): one workload with N of P policies applying. */
function oneWorkload(svcs: ServiceFixture[]): void {
  const proxy = sidecar(NS, TARGET_LABELS, endpointIp(0, 0));
  const rows1: string[][] = [];
  const rows2: string[][] = [];
  let base: { ms: number; min: number } | undefined;
  let later: (() => void) | undefined;
  // Warm the code up first (V8 optimises the translation after many calls), so that the small
  // N rows measure the steady state, as in a long-running control plane, not the first calls.
  const warm = buildMesh(svcs, policies(POLICIES, POLICIES));
  for (let i = 0; i < 3; i++) sidecarSnapshot(warm, proxy);
  for (const n of APPLYING) {
    const cfgs = policies(POLICIES, n);
    const mesh = buildMesh(svcs, cfgs);
    const applying = mesh.authorizationPoliciesFor(NS, TARGET_LABELS);
    if (applying.length !== n) throw new Error(`expected ${n} policies to apply, got ${applying.length}`);
    const rules = ruleCount(applying);
    const select = timed(() => mesh.authorizationPoliciesFor(NS, TARGET_LABELS), RUNS * 4);
    const runs = n <= 100 ? RUNS * 4 : RUNS;
    const sec = timed(() => workloadSecurity(mesh, NS, TARGET_LABELS), runs);
    if (n === APPLYING[APPLYING.length - 1] && n > 0) later = () => breakdown(applying, rules, sec.ms);
    const perRouteBytes = Object.values(sec.result.inboundPerRoute).reduce((b, a) => b + a.value.length, 0);
    const httpBytes = sec.result.http.reduce((b, f) => b + filterBytes(f.typed_config as { value?: Uint8Array }), 0);
    const tcpBytes = sec.result.tcp.reduce((b, f) => b + filterBytes(f.typed_config as { value?: Uint8Array }), 0);
    rows1.push([
      String(n),
      String(rules),
      `${fmtMs(select.ms)} ms`,
      `${fmtMs(sec.ms)} ms (min ${fmtMs(sec.min)}, ${runs} runs)`,
      rules > 0 ? fmtUs(sec.ms / rules) : '—',
      `${Object.keys(sec.result.inboundPerRoute).length} / ${sec.result.tcp.length} / ${sec.result.http.length}`,
      `${kib(perRouteBytes)} / ${kib(tcpBytes)} / ${kib(httpBytes)}`,
    ]);

    // A fresh Mesh per run would rebuild its indexes; the snapshot itself is recomputed per call.
    // Small snapshots vary most on a shared machine: more runs, and the minimum compared too.
    const snap = timed(() => sidecarSnapshot(mesh, proxy), n <= 100 ? RUNS * 3 : RUNS);
    const listeners = snap.result[TypeUrl.Listener] as ReadonlyMap<string, Listener>;
    const inbound = listeners.get(VIRTUAL_INBOUND_LISTENER);
    if (!inbound) throw new Error('no virtualInbound listener');
    const inboundBytes = encodeMessage(messageName(TypeUrl.Listener), inbound).length;
    const chains = inbound.filter_chains?.length ?? 0;
    let allListeners = 0;
    for (const l of listeners.values()) allListeners += encodeMessage(messageName(TypeUrl.Listener), l).length;
    const routes = snap.result[TypeUrl.Route] as ReadonlyMap<string, RouteConfiguration>;
    let inboundRoutes = 0;
    let inboundRouteCount = 0;
    let allRoutes = 0;
    for (const [name, r] of routes) {
      const b = encodeMessage(messageName(TypeUrl.Route), r).length;
      allRoutes += b;
      if (name.startsWith('inbound|')) {
        inboundRoutes += b;
        inboundRouteCount++;
      }
    }
    base ??= snap;
    const over = (a: number, b: number) => `${a >= b ? '+' : '−'}${fmtMs(Math.abs(a - b))}`;
    rows2.push([
      String(n),
      String(rules),
      `${fmtMs(snap.ms)} ms (min ${fmtMs(snap.min)})`,
      n === 0 ? '' : `${over(snap.ms, base.ms)} ms (min ${over(snap.min, base.min)})`,
      String(chains),
      kib(inboundBytes),
      `${inboundRouteCount} × ${kib(inboundRoutes / Math.max(1, inboundRouteCount))}`,
      kib(allListeners),
      kib(allRoutes),
    ]);
  }
  table(
    `(1) one workload, ${POLICIES} policies in the mesh, N apply — workloadSecurity (selection + RBAC filters, HTTP and TCP, encoded into typed_config); median`,
    ['N applying', 'rules', 'select (authorizationPoliciesFor)', 'workloadSecurity', 'per rule', 'RBAC configs: per route / TCP / gateway', 'encoded: per route / TCP / gateway'],
    rows1,
  );
  later?.();
  table(
    `(2) sidecarSnapshot of that workload (${SERVICES} services × 2 ports outbound, its own 2 inbound ports); median of ${RUNS * 3} (N ≤ 100) or ${RUNS} runs`,
    ['N applying', 'rules', 'sidecarSnapshot', 'over N = 0', 'inbound filter chains', 'virtualInbound encoded', 'inbound route configs', 'all listeners', 'all routes'],
    rows2,
  );
}

/** (3) W workloads, each with its own labels, P policies; selection and workloadSecurity for all. */
function manyWorkloads(svcs: ServiceFixture[]): void {
  // Workload w: app-<w % 100>, version v<w % 3>, in namespace ns-<w % 10>.
  const workloads = Array.from({ length: WORKLOADS }, (_, w) => ({ ns: `ns-${w % OTHER_NAMESPACES}`, labels: { app: `app-${w % 100}`, version: `v${w % 3}`, pod: `p${w}` } }));
  const layouts: Array<[string, (i: number) => string]> = [
    [`spread over ${OTHER_NAMESPACES} namespaces`, (i) => `ns-${i % OTHER_NAMESPACES}`],
    ['all in one namespace (ns-0)', () => 'ns-0'],
  ];
  const rows: string[][] = [];
  for (const [label, nsOf] of layouts) {
    // One in fifty namespace-wide, the rest select app-<i % 100> (one in three with a version).
    const cfgs = Array.from({ length: POLICIES }, (_, i) =>
      config('AuthorizationPolicy', nsOf(i), `ap-${i}`, spec(i, i % 50 === 49 ? undefined : i % 3 === 0 ? { app: `app-${i % 100}`, version: `v${i % 3}` } : { app: `app-${i % 100}` })),
    );
    const wls = label.startsWith('all') ? workloads.map((w) => ({ ...w, ns: 'ns-0' })) : workloads;
    const selectAll = (mesh: Mesh) => {
      let n = 0;
      for (const w of wls) n += mesh.authorizationPoliciesFor(w.ns, w.labels).length;
      return n;
    };
    const cold: number[] = [];
    let applied = 0;
    for (let r = 0; r < RUNS; r++) {
      const mesh = buildMesh(svcs, cfgs);
      const t0 = performance.now();
      applied = selectAll(mesh);
      cold.push(performance.now() - t0);
    }
    const mesh = buildMesh(svcs, cfgs);
    const warm = timed(() => selectAll(mesh));
    const security = timed(() => {
      let filters = 0;
      for (const w of wls) filters += workloadSecurity(mesh, w.ns, w.labels).tcp.length;
      return filters;
    }, Math.max(1, Math.min(RUNS, 3)));
    rows.push([
      label,
      String(applied),
      `${fmtMs(median(cold))} ms`,
      `${fmtMs(warm.ms)} ms`,
      fmtUs(warm.ms / WORKLOADS),
      `${fmtMs(security.ms)} ms`,
      `${fmtMs(security.ms / WORKLOADS)} ms`,
    ]);
  }
  table(
    `(3) ${WORKLOADS} workloads (app-0..99 × v0..2, own pod label, in ns-0..9), ${POLICIES} policies; median of ${RUNS}`,
    ['policies', 'applying (sum over workloads)', 'select all, cold (new Mesh)', 'select all, warm', 'per workload', 'workloadSecurity for all', 'per workload'],
    rows,
  );
}

function main(): void {
  setLogLevel('error');
  console.log(
    `authz-translate: ${POLICIES} AuthorizationPolicies, ${SERVICES} services, ${WORKLOADS} workloads, node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}, ${new Date().toISOString()}`,
  );
  const all = policies(POLICIES, POLICIES);
  const kinds = [0, 0, 0, 0, 0];
  all.forEach((_, i) => kinds[i % 5]++);
  console.log(
    `policy mix (of ${POLICIES}, ${ruleCount(all)} rules): ALLOW principals+methods+paths ${kinds[0]}, ALLOW namespaces 5–10 rules ${kinds[1]}, DENY ipBlocks+header ${kinds[2]}, ALLOW wildcard principals+header 2–3 rules ${kinds[3]}, DENY paths/notPrincipals/header (namespace-wide) ${kinds[4]}`,
  );
  const svcs = services();
  oneWorkload(svcs);
  manyWorkloads(svcs);
}

main();
