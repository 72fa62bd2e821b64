// The measuring process's handle on the simulated sidecars, a child process: bench/xds-client
// (Go, the default: a fraction of the CPU) or client-worker.ts (Node.js, as first measured).
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeMessage } from '../../src/xds/protos.js';
import { istioNode, markerBytes } from './mesh.js';

export interface WireCounters {
  /** Bytes the client process read from its sockets (/proc/<pid>/io rchar: gRPC frames, HTTP/2, TCP payload). */
  wireBytes: number;
  /** Bytes of the resources themselves (the Any values), as received. */
  resourceBytes: number;
  responses: number;
}

export type ToWorker = { op: 'watch'; id: number; markers: string[] } | { op: 'counters' } | { op: 'stop' };
export type FromWorker =
  | { op: 'progress'; connected: number; synced: number; errors: number; sample: Record<string, number> }
  | { op: 'synced'; ms: number; sample: Record<string, number> }
  | { op: 'watching'; id: number }
  | { op: 'seen'; id: number; at: number[] }
  /** An endpoint watch (Go worker only): per client the time it held the address, -1 if it does not ask for that EDS name. */
  | { op: 'seenEndpoint'; id: number; at: number[] }
  | ({ op: 'counters'; sample?: Record<string, number> } & WireCounters);

/** The Go worker's form of ToWorker: the markers as the bytes a route configuration holds. */
type ToGoWorker = { op: 'watch'; id: number; needles: string[] } | { op: 'watchEndpoint'; id: number; cluster: string; needles: [string] } | { op: 'counters' } | { op: 'stop' };

/** Bytes as a JSON string the Go worker reads back as the same bytes (ASCII only: JSON carries text). */
function asciiString(b: Buffer): string {
  if (b.some((x) => x > 0x7f)) throw new Error(`not ASCII: ${b.toString('hex')}`);
  return b.toString('latin1');
}

export class SimulatedSidecars {
  private readonly child: ChildProcess;
  private readonly handlers = new Set<(m: FromWorker) => void>();
  private exit: Error | undefined;
  private nextId = 1;
  private readonly send: (m: ToWorker) => void;
  private readonly sendGo: ((m: ToGoWorker) => void) | undefined;

  /**
   * `goWorker`: the path of bench/xds-client built (buildGoTool); without it the Node.js worker
   * runs. `protocol`: delta (as Envoy speaks under Istio's agent) needs the Go worker.
   */
  constructor(target: string, count: number, services: number, istioVersion: string, goWorker?: string, protocol: 'sotw' | 'delta' = 'sotw') {
    const deliver = (m: FromWorker): void => {
      for (const h of [...this.handlers]) h(m);
    };
    if (goWorker) {
      // Each client's Node as the Node.js worker builds it, encoded once here.
      const nodes = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vs-istiod-')), 'nodes');
      const lines: string[] = [];
      for (let p = 0; p < count; p++) lines.push(Buffer.from(encodeMessage('envoy.config.core.v3.Node', istioNode(p, services, istioVersion))).toString('base64'));
      fs.writeFileSync(nodes, `${lines.join('\n')}\n`);
      this.child = spawn(goWorker, [target, nodes, protocol], { stdio: ['pipe', 'pipe', 'inherit'] });
      readline.createInterface({ input: this.child.stdout! }).on('line', (line) => deliver(JSON.parse(line) as FromWorker));
      this.child.on('exit', () => fs.rmSync(path.dirname(nodes), { recursive: true, force: true }));
      this.sendGo = (m) => void this.child.stdin!.write(`${JSON.stringify(m)}\n`);
      this.send = (m) => this.sendGo!(m.op === 'watch' ? { op: 'watch', id: m.id, needles: m.markers.map((x) => asciiString(markerBytes(x))) } : m);
    } else {
      if (protocol !== 'sotw') throw new Error('delta clients need the Go worker (--client go)');
      const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'client-worker.js');
      this.child = fork(worker, [target, String(count), String(services), istioVersion], { stdio: 'inherit', execArgv: ['--max-old-space-size=8192'] });
      this.child.on('message', deliver);
      this.send = (m) => void this.child.send(m);
    }
    this.child.on('exit', (code) => {
      this.exit = new Error(`the client process exited (${code})`);
      for (const h of [...this.handlers]) h({ op: 'progress', connected: 0, synced: 0, errors: -1, sample: {} });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves with the first message `pick` accepts; rejects after `timeoutMs` or if the process exits. */
  private wait<T>(pick: (m: FromWorker) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.handlers.delete(handler);
      };
      const handler = (m: FromWorker): void => {
        if (this.exit) {
          done();
          reject(this.exit);
          return;
        }
        const v = pick(m);
        if (v !== undefined) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.handlers.add(handler);
    });
  }

  /** Resolves when every client holds its whole configuration; `onProgress` sees the worker's reports. */
  synced(timeoutMs: number, onProgress: (m: Extract<FromWorker, { op: 'progress' }>) => void): Promise<{ ms: number; sample: Record<string, number> }> {
    return this.wait(
      (m) => {
        if (m.op === 'progress') onProgress(m);
        return m.op === 'synced' ? { ms: m.ms, sample: m.sample } : undefined;
      },
      timeoutMs,
      'every client to sync',
    );
  }

  /**
   * Starts watching for `markers`; resolves (once the worker watches) with `seen`, a promise of
   * the times (ms since the epoch, performance-clock precision) at which each client first held
   * a route configuration carrying all of them. (Wrapped: an async function returning a promise
   * would wait for it.)
   */
  async watch(markers: string[], timeoutMs: number): Promise<{ seen: Promise<number[]> }> {
    const id = this.nextId++;
    const seen = this.wait((m) => (m.op === 'seen' && m.id === id ? m.at : undefined), timeoutMs, `every client to receive ${markers.length > 1 ? `${markers.length} changes` : markers[0]}`);
    const watching = this.wait((m) => (m.op === 'watching' && m.id === id ? true : undefined), 30_000, 'the worker to watch');
    seen.catch(() => undefined); // awaited by the caller after its write; not unhandled meanwhile
    this.send({ op: 'watch', id, markers });
    await watching;
    return { seen };
  }

  /**
   * Starts watching for an endpoint change (Go worker only): resolves once the worker watches,
   * with `seen`, the times at which each client subscribed to EDS name `cluster` first held an
   * assignment containing `needle` (-1 for the clients that do not ask for it).
   */
  async watchEndpoint(cluster: string, needle: Buffer, timeoutMs: number): Promise<{ seen: Promise<number[]> }> {
    if (!this.sendGo) throw new Error('endpoint watches need the Go worker (--client go)');
    const id = this.nextId++;
    const seen = this.wait((m) => (m.op === 'seenEndpoint' && m.id === id ? m.at : undefined), timeoutMs, `every client to receive endpoint change ${id}`);
    const watching = this.wait((m) => (m.op === 'watching' && m.id === id ? true : undefined), 30_000, 'the worker to watch');
    seen.catch(() => undefined);
    this.sendGo({ op: 'watchEndpoint', id, cluster, needles: [asciiString(needle)] });
    await watching;
    return { seen };
  }

  async counters(): Promise<WireCounters> {
    const { wireBytes, resourceBytes, responses } = await this.countersAndSample();
    return { wireBytes, resourceBytes, responses };
  }

  /** The counters and, from the Go worker, what client 0 holds now (counts by type). */
  countersAndSample(): Promise<Extract<FromWorker, { op: 'counters' }>> {
    const reply = this.wait((m) => (m.op === 'counters' ? m : undefined), 30_000, 'counters');
    this.send({ op: 'counters' });
    return reply;
  }

  async stop(): Promise<void> {
    if (this.exit) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.send({ op: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
