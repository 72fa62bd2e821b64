// The planning cost of one push per stream, in process (no network, no translation): S streams
// (TypeStates) in sync with a shared desired map of N resources, then R pushes that each change
// one resource (an endpoint change of one service). Times TypeState.plan for every stream on
// every push (the incremental plan from the names that differ), against the full computation
// (computePlan, every name) on the same states. The diff of two shared maps is computed once per
// push and counted in the time of the first stream that asks.
//
//   npx tsc -p tsconfig.json && node dist/bench/xds-plan.js [--resources 1000] [--streams 100] [--rounds 50]
//
// Record results in BENCHMARKS.md with the machine and the date.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { EncodedResource } from '../src/xds/encoded-resource.js';
import { TypeState, type Plan } from '../src/xds/type-state.js';
import { SHORT_NAME, TypeUrl } from '../src/xds/types.js';
import type { DesiredMap } from '../src/xds/desired-diff.js';
import { arg } from './args.js';

const resources = arg('resources', 1000);
const streams = arg('streams', 100);
const rounds = arg('rounds', 50);

type Mode = 'incremental' | 'full';
const full = (st: TypeState) => st as unknown as { computePlan(d: DesiredMap, keepRemoved: boolean): Plan | undefined };

const resource = (type: TypeUrl, i: number, generation: number) => new EncodedResource(type, `outbound|80||svc-${i}.bench.svc.cluster.local`, Buffer.from(`svc-${i} generation ${generation}`));

/** Microseconds per stream per push (median over the rounds) for one type, protocol and mode. */
function run(type: TypeUrl, delta: boolean, mode: Mode): number {
  let desired: DesiredMap = new Map(Array.from({ length: resources }, (_, i) => [resource(type, i, 0).name, resource(type, i, 0)]));
  const wildcard = type === TypeUrl.Cluster;
  const names = wildcard ? [] : [...desired.keys()];
  const states = Array.from({ length: streams }, () => {
    const st = new TypeState(type, delta);
    if (delta) st.subscribeDelta(names, [], true, {});
    else st.subscribeSotw(names, true);
    return st;
  });
  let nonce = 0;
  const cycle = (st: TypeState, plan: Plan | undefined) => {
    if (!plan) return;
    st.sent(plan, `${++nonce}`, 'v');
    st.ack();
  };
  for (const st of states) cycle(st, st.plan(desired, false));
  const perStream: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const next = new Map(desired);
    const changed = resource(type, r % resources, r);
    next.set(changed.name, changed);
    desired = next;
    const plans: (Plan | undefined)[] = [];
    const t0 = performance.now();
    for (const st of states) plans.push(mode === 'full' ? full(st).computePlan(desired, false) : st.plan(desired, false));
    perStream.push(((performance.now() - t0) * 1000) / streams);
    states.forEach((st, k) => cycle(st, plans[k]));
  }
  perStream.sort((a, b) => a - b);
  return perStream[Math.floor(perStream.length / 2)];
}

console.log(`xds-plan: ${resources} resources, ${streams} streams, ${rounds} pushes of one changed resource; node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
for (const [type, delta] of [[TypeUrl.Endpoint, false], [TypeUrl.Endpoint, true], [TypeUrl.Cluster, false], [TypeUrl.Cluster, true]] as const) {
  const label = `${SHORT_NAME[type]} ${delta ? 'delta' : 'sotw'}${type === TypeUrl.Cluster ? ' (wildcard)' : ' (named)'}`;
  // Full first, then incremental, then both again: the second pair is reported (warm JIT).
  for (const warm of [false, true]) {
    const f = run(type, delta, 'full');
    const i = run(type, delta, 'incremental');
    if (warm) console.log(`${label.padEnd(22)} plan per stream per push: full ${f.toFixed(1)} µs, incremental ${i.toFixed(1)} µs (${(f / i).toFixed(0)}×)`);
  }
}
