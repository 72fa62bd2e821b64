// The measuring process's handle on the simulated sidecars (client-worker.ts, a child process).
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
  | ({ op: 'counters' } & WireCounters);

export class SimulatedSidecars {
  private readonly child: ChildProcess;
  private readonly handlers = new Set<(m: FromWorker) => void>();
  private exit: Error | undefined;
  private nextId = 1;

  constructor(target: string, count: number, services: number, istioVersion: string) {
    const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'client-worker.js');
    this.child = fork(worker, [target, String(count), String(services), istioVersion], { stdio: 'inherit', execArgv: ['--max-old-space-size=8192'] });
    this.child.on('message', (m: FromWorker) => {
      for (const h of [...this.handlers]) h(m);
    });
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
    this.child.send({ op: 'watch', id, markers } satisfies ToWorker);
    await watching;
    return { seen };
  }

  async counters(): Promise<WireCounters> {
    const reply = this.wait((m) => (m.op === 'counters' ? m : undefined), 30_000, 'counters');
    this.child.send({ op: 'counters' } satisfies ToWorker);
    const { wireBytes, resourceBytes, responses } = await reply;
    return { wireBytes, resourceBytes, responses };
  }

  async stop(): Promise<void> {
    if (this.exit) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ op: 'stop' } satisfies ToWorker);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
