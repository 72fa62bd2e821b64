// What bench/vs-istiod measured per control plane and client count, and the side-by-side table
// (Trellis / istiod) it prints.
import type { WireCounters } from './clients.js';
import { ms, percentile, ratio, size, summarize, type Summary } from './stats.js';

export interface Round {
  /** From the write's start until the last client received the change. */
  allMs: number;
  firstMs: number;
  perClientMs: Summary;
  /** The API server's answer to the write (JSON patch). */
  apiMs: number;
  /** From the write's start until the benchmark's own watch saw it. */
  watchMs: number;
  /** What the clients received from this change's write until the next change (settle included). */
  bytes: WireCounters;
}

export interface Run {
  plane: 'istiod' | 'trellis';
  clients: number;
  services: number;
  idleCpuPerSecond: number;
  sync: { wallMs: number; cpuSeconds: number; bytes: WireCounters; rss: number; sample: Record<string, number> };
  rounds: Round[];
  /** clientsCpuSeconds: the simulated sidecars' process over the same changes (it shares the machine's CPUs with the control plane). */
  single: { cpuSeconds: number; clientsCpuSeconds?: number; bytes: WireCounters };
  burst: { changes: number; fromFirstWriteMs: number; fromLastWriteMs: number; writeSpanMs: number; apiMs: number[]; cpuSeconds: number; bytes: WireCounters };
  /** Endpoint churn (Go clients): per change, until every client asking for that EDS name has it; per client and change; the API server's answers. */
  churn?: {
    changes: number;
    rate: number;
    writeSpanMs: number;
    wallMs: number;
    cpuSeconds: number;
    allMs: Summary & { p99: number };
    perClientMs: Summary & { p99: number };
    apiMs: Summary & { p99: number };
    /** Until every client has the change, from the API server's answer to its write (the API server's own time left out). */
    fromAnswerMs?: Summary & { p99: number };
    affectedClients: number;
    /** The simulated sidecars' CPU over the churn, and what they received: the part of the machine the clients took. */
    clientsCpuSeconds?: number;
    bytes?: WireCounters;
  };
  memory: { rssEnd: number; peakRss: number };
}

/** The rows of the table: a label and the number (for the ratio) and its text. */
export function rows(r: Run): { label: string; value: number; text: string }[] {
  const all = summarize(r.rounds.map((x) => x.allMs));
  // From the API server's answer: without the API server's own time (admission webhooks, etcd),
  // which is reported apart and is not the control plane's.
  const allAfter = summarize(r.rounds.map((x) => x.allMs - x.apiMs));
  const perClient = r.rounds.map((x) => x.perClientMs.p50 - x.apiMs);
  const bytesPerChange = percentile(
    r.rounds.map((x) => x.bytes.wireBytes),
    50,
  );
  const resourceBytesPerChange = percentile(
    r.rounds.map((x) => x.bytes.resourceBytes),
    50,
  );
  const cpuPerChange = (r.single.cpuSeconds / Math.max(1, r.rounds.length)) * 1000;
  const row = (label: string, value: number, text: string) => ({ label, value, text });
  return [
    row('single change, all clients have it, from the API answer: p50', allAfter.p50, ms(allAfter.p50)),
    row('single change, all clients have it, from the API answer: p90', allAfter.p90, ms(allAfter.p90)),
    row('single change, all clients have it, from the API answer: max', allAfter.max, ms(allAfter.max)),
    row('single change, the median client has it, from the API answer (p50)', percentile(perClient, 50), ms(percentile(perClient, 50))),
    row('single change, all clients have it, from the write: p50', all.p50, ms(all.p50)),
    row('single change, all clients have it, from the write: p90', all.p90, ms(all.p90)),
    row('single change, all clients have it, from the write: max', all.max, ms(all.max)),
    row(`burst of ${r.burst.changes}: all clients have all, from the first write`, r.burst.fromFirstWriteMs, ms(r.burst.fromFirstWriteMs)),
    row(`burst of ${r.burst.changes}: from the last write's API answer`, r.burst.fromLastWriteMs, ms(r.burst.fromLastWriteMs)),
    row('control plane CPU per single change (mean)', cpuPerChange, ms(cpuPerChange)),
    row(`control plane CPU, ${r.rounds.length} single changes`, r.single.cpuSeconds, `${r.single.cpuSeconds.toFixed(2)} s`),
    row("simulated clients' CPU per single change (mean, their process)", ((r.single.clientsCpuSeconds ?? Number.NaN) / Math.max(1, r.rounds.length)) * 1000, ms(((r.single.clientsCpuSeconds ?? Number.NaN) / Math.max(1, r.rounds.length)) * 1000)),
    row(`control plane CPU, burst of ${r.burst.changes}`, r.burst.cpuSeconds, `${r.burst.cpuSeconds.toFixed(2)} s`),
    row('control plane CPU, initial sync of all clients', r.sync.cpuSeconds, `${r.sync.cpuSeconds.toFixed(2)} s`),
    row('control plane idle CPU (before clients)', r.idleCpuPerSecond * 1000, `${(r.idleCpuPerSecond * 1000).toFixed(0)} ms/s`),
    row('bytes received per single change (p50, wire)', bytesPerChange, size(bytesPerChange)),
    row('resource bytes per single change (p50)', resourceBytesPerChange, size(resourceBytesPerChange)),
    row(`bytes received, burst of ${r.burst.changes} (wire)`, r.burst.bytes.wireBytes, size(r.burst.bytes.wireBytes)),
    row('bytes received, initial sync (wire)', r.sync.bytes.wireBytes, size(r.sync.bytes.wireBytes)),
    row('responses per single change (mean)', r.single.bytes.responses / Math.max(1, r.rounds.length), (r.single.bytes.responses / Math.max(1, r.rounds.length)).toFixed(0)),
    row('initial sync: connect and full config, wall time', r.sync.wallMs, `${(r.sync.wallMs / 1000).toFixed(1)} s`),
    ...(r.churn ? churnRows(r.churn) : []),
    row('RSS after the initial sync', r.sync.rss, size(r.sync.rss)),
    row('RSS at the end', r.memory.rssEnd, size(r.memory.rssEnd)),
    row('peak RSS (VmHWM)', r.memory.peakRss, size(r.memory.peakRss)),
  ];
}

function churnRows(c: NonNullable<Run['churn']>): { label: string; value: number; text: string }[] {
  const cores = c.cpuSeconds / (c.wallMs / 1000);
  const label = `endpoint churn, ${c.rate}/s for ${c.changes} changes`;
  return [
    { label: `${label}: every affected client has a change, p50`, value: c.allMs.p50, text: ms(c.allMs.p50) },
    { label: `${label}: every affected client has a change, p90`, value: c.allMs.p90, text: ms(c.allMs.p90) },
    { label: `${label}: every affected client has a change, p99`, value: c.allMs.p99, text: ms(c.allMs.p99) },
    { label: `${label}: every affected client has a change, max`, value: c.allMs.max, text: ms(c.allMs.max) },
    { label: `${label}: one client has a change, p99 (all pairs)`, value: c.perClientMs.p99, text: ms(c.perClientMs.p99) },
    ...(c.fromAnswerMs
      ? [
          { label: `${label}: every affected client has a change, from the API's answer, p50`, value: c.fromAnswerMs.p50, text: ms(c.fromAnswerMs.p50) },
          { label: `${label}: every affected client has a change, from the API's answer, p99`, value: c.fromAnswerMs.p99, text: ms(c.fromAnswerMs.p99) },
        ]
      : []),
    { label: `${label}: control plane CPU (cores, until the last client has the last change)`, value: cores, text: `${cores.toFixed(2)} cores (${c.cpuSeconds.toFixed(2)} s over ${(c.wallMs / 1000).toFixed(1)} s)` },
    ...(c.clientsCpuSeconds !== undefined && c.bytes
      ? [
          { label: `${label}: simulated clients' CPU (cores)`, value: c.clientsCpuSeconds / (c.wallMs / 1000), text: `${(c.clientsCpuSeconds / (c.wallMs / 1000)).toFixed(2)} cores (${c.clientsCpuSeconds.toFixed(2)} s)` },
          { label: `${label}: responses the clients received`, value: c.bytes.responses, text: c.bytes.responses.toLocaleString('en-US') },
        ]
      : []),
  ];
}

/** The API server's own latency during a run (not the control plane's): write answer and watch delivery. */
export function apiLine(r: Run): string {
  const write = summarize([...r.rounds.map((x) => x.apiMs), ...r.burst.apiMs]);
  const watch = summarize(r.rounds.map((x) => x.watchMs).filter(Number.isFinite));
  return `${r.plane}, ${r.clients} clients: API write p50 ${ms(write.p50)} p90 ${ms(write.p90)} max ${ms(write.max)}; watch event (from the write's start) p50 ${ms(watch.p50)} p90 ${ms(watch.p90)} max ${ms(watch.max)}; burst writes spanned ${ms(r.burst.writeSpanMs)}${r.churn ? `; churn writes p50 ${ms(r.churn.apiMs.p50)} p99 ${ms(r.churn.apiMs.p99)}, spanned ${ms(r.churn.writeSpanMs)}` : ''}`;
}

export function printReport(runs: Run[], sideBySide: boolean): void {
  if (!sideBySide) {
    for (const r of runs) {
      console.log(`\n${r.plane}, ${r.clients} clients, ${r.services} services:`);
      for (const x of rows(r)) console.log(`  ${x.label.padEnd(64)} ${x.text}`);
      console.log(`  ${apiLine(r)}`);
    }
    return;
  }
  const counts = [...new Set(runs.map((r) => r.clients))];
  for (const n of counts) {
    const istiod = runs.find((r) => r.clients === n && r.plane === 'istiod');
    const trellis = runs.find((r) => r.clients === n && r.plane === 'trellis');
    console.log(`\n${n} clients:\n\n| | istiod | Trellis | Trellis / istiod |\n|---|---|---|---|`);
    const a = istiod ? rows(istiod) : [];
    const b = trellis ? rows(trellis) : [];
    const labels = (a.length ? a : b).map((x) => x.label);
    for (const label of labels) {
      const x = a.find((y) => y.label === label);
      const y = b.find((z) => z.label === label);
      console.log(`| ${label} | ${x?.text ?? 'n/a'} | ${y?.text ?? 'n/a'} | ${ratio(y?.value, x?.value)} |`);
    }
    for (const r of [istiod, trellis]) if (r) console.log(`\n${apiLine(r)}`);
  }
}
