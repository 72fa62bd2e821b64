// Benchmark of what a Sidecar saves one proxy, in process, no network: a mesh of N namespaces ×
// S services (each with E endpoints and a VirtualService), one sidecar in namespace ns-0, and a
// Sidecar importing its own namespace plus K others (K = 0 … N−1; "none" is no Sidecar at all).
// For each: the resources the proxy gets, their encoded bytes (every type: what a new proxy, or a
// state-of-the-world push of everything, costs), the bytes of the route configuration a change to
// one of its VirtualServices resends, and the CPU to translate and encode the proxy's snapshot.
//
//   npx tsc -p tsconfig.json && node --expose-gc dist/bench/sidecar-scope.js [--namespaces 50] [--services 20] [--endpoints 10] [--runs 5]
//
// Record results in BENCHMARKS.md with the machine and the date.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { AnyConfig } from '../src/model/config-store.js';
import { sidecarSnapshot } from '../src/translate/snapshot.js';
import { setLogLevel } from '../src/util/logger.js';
import { encodeMessage } from '../src/xds/protos.js';
import { ALL_TYPES, messageName, SHORT_NAME, TypeUrl } from '../src/xds/types.js';
import { buildMesh, config, sidecar, type ServiceFixture } from '../test/support/mesh-fixtures.js';
import { arg } from './args.js';

const NAMESPACES = arg('namespaces', 50);
const SERVICES = arg('services', 20);
const ENDPOINTS = arg('endpoints', 10);
const RUNS = arg('runs', 5);
const TYPES = new Set(ALL_TYPES);

const nsName = (n: number) => `ns-${n}`;

function services(): ServiceFixture[] {
  const out: ServiceFixture[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    for (let i = 0; i < SERVICES; i++) {
      const k = n * SERVICES + i;
      out.push({
        namespace: nsName(n),
        name: `svc-${i}`,
        clusterIP: `10.96.${k >> 8}.${(k & 255) + 1}`,
        ports: [{ name: 'http', port: 80, targetPort: 8080 }],
        endpoints: Array.from({ length: ENDPOINTS }, (_, e) => ({ address: `10.${1 + (k >> 8)}.${k & 255}.${e + 1}`, labels: { app: `svc-${i}` } })),
      });
    }
  }
  return out;
}

function virtualServices(): AnyConfig[] {
  const out: AnyConfig[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    for (let i = 0; i < SERVICES; i++) {
      out.push(config('VirtualService', nsName(n), `svc-${i}`, { hosts: [`svc-${i}`], http: [{ match: [{ headers: { 'x-canary': { exact: 'yes' } } }], route: [{ destination: { host: `svc-${i}` } }], timeout: '5s' }, { route: [{ destination: { host: `svc-${i}` } }] }] }));
    }
  }
  return out;
}

function sidecarFor(imported: number): AnyConfig[] {
  if (imported < 0) return [];
  const hosts = ['./*', ...Array.from({ length: imported }, (_, k) => `${nsName(k + 1)}/*`)];
  return [config('Sidecar', nsName(0), 'default', { egress: [{ hosts }] })];
}

function measure(label: string, imported: number, base: { services: ServiceFixture[]; vses: AnyConfig[] }): void {
  const proxy = sidecar(nsName(0), { app: 'client' });
  const times: number[] = [];
  let bytes = 0;
  let resources = 0;
  let routeBytes = 0;
  const byType: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    const mesh = buildMesh(base.services, [...base.vses, ...sidecarFor(imported)]);
    global.gc?.();
    const started = performance.now();
    const snap = sidecarSnapshot(mesh, proxy, {}, TYPES);
    bytes = 0;
    resources = 0;
    byType.length = 0;
    for (const type of ALL_TYPES) {
      let typeBytes = 0;
      for (const r of snap[type]?.values() ?? []) {
        typeBytes += encodeMessage(messageName(type), r).length;
        resources++;
      }
      bytes += typeBytes;
      byType.push(`${SHORT_NAME[type]} ${(typeBytes / 1024).toFixed(0)}`);
    }
    times.push(performance.now() - started);
    // A change to one of the proxy's own VirtualServices resends the route configuration of its port.
    const route = snap[TypeUrl.Route]?.get('80');
    routeBytes = route ? encodeMessage(messageName(TypeUrl.Route), route).length : 0;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const seen = imported < 0 ? NAMESPACES : imported + 1;
  console.log(
    `| ${label} | ${seen * SERVICES} | ${resources} | ${(bytes / 1024).toFixed(0)} KiB (${byType.join(', ')}) | ${(routeBytes / 1024).toFixed(1)} KiB | ${median.toFixed(1)} ms |`,
  );
}

setLogLevel('error');
const base = { services: services(), vses: virtualServices() };
console.log(`sidecar-scope: ${NAMESPACES} namespaces × ${SERVICES} services × ${ENDPOINTS} endpoints, each service with a VirtualService; ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), node ${process.version}; median of ${RUNS} runs`);
console.log('| Sidecar of the proxy | services it sees | resources | encoded bytes, all types (KiB by type) | route config resent per VirtualService change | translate + encode CPU |');
console.log('|---|---:|---:|---|---:|---:|');
measure('none (every namespace)', -1, base);
for (const k of [NAMESPACES - 1, Math.floor(NAMESPACES / 2) - 1, Math.floor(NAMESPACES / 5) - 1, Math.floor(NAMESPACES / 10) - 1, 0]) {
  if (k < 0) continue;
  measure(k === 0 ? '`./*`' : `\`./*\` + ${k} namespaces`, k, base);
}
