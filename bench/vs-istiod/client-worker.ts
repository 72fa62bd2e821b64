// The simulated sidecars of bench/vs-istiod, in a process of their own (forked by clients.ts) so
// the measuring process and the control plane are not charged for them. Each client is one ADS
// stream on its own connection, state of the world, Envoy-like: CDS and LDS wildcard, then EDS
// for the EDS clusters CDS names and RDS for the route configurations LDS names (read from the
// bytes as they arrive, re-subscribing when they change), every response ACKed, a failed stream
// opened again after a backoff.
//
//   node dist/bench/vs-istiod/client-worker.js TARGET COUNT SERVICES ISTIO_VERSION
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import { setLogLevel } from '../../src/util/logger.js';
import { TypeUrl } from '../../src/xds/types.js';
import { AdsClient, type ReceivedResponse } from '../../test/support/ads-client.js';
import { istioNode, markerBytes } from './mesh.js';
import { parseProcIoReadBytes } from './stats.js';
import { edsNameOfCluster, rdsNamesOfListener } from './xds-names.js';
import type { FromWorker, ToWorker, WireCounters } from './clients.js';

const { Cluster, Endpoint, Listener, Route } = TypeUrl;
const now = (): number => performance.timeOrigin + performance.now();

interface Watch {
  id: number;
  markers: Buffer[];
  /** Per client: when it first held a route configuration carrying every marker (0: not yet). */
  at: number[];
  pending: number;
}

class SimulatedSidecar {
  client: AdsClient;
  private retrying = false;
  failures = 0;
  private eds: string[] = [];
  private rds: string[] = [];
  /** The bytes of the route configurations the client holds, by name. */
  readonly routes = new Map<string, Buffer>();
  responses = 0;
  resourceBytes = 0;
  connected = false;

  constructor(
    readonly index: number,
    private readonly target: string,
    private readonly services: number,
    private readonly istioVersion: string,
    private readonly onRoutes: (c: SimulatedSidecar) => void,
  ) {
    this.client = this.connect();
  }

  private connect(): AdsClient {
    const client = new AdsClient(this.target, {
      node: istioNode(this.index, this.services, this.istioVersion),
      history: false,
      channelOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
      onResponse: (r) => this.seen(r),
    });
    client.subscribe(Cluster, []);
    client.subscribe(Listener, []);
    return client;
  }

  /**
   * As Envoy does when its ADS stream fails (istiod refuses streams above its admission rate
   * with RESOURCE_EXHAUSTED): a new stream after a jittered exponential backoff, 500 ms doubling
   * up to 30 s (Envoy's defaults), asking again from scratch.
   */
  retryIfFailed(): void {
    if (!this.client.error || this.retrying) return;
    this.retrying = true;
    this.failures++;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures - 1, 6)) * (0.5 + Math.random() / 2);
    setTimeout(() => {
      this.client.close();
      this.eds = [];
      this.rds = [];
      this.routes.clear();
      this.client = this.connect();
      this.retrying = false;
    }, delay);
  }

  private seen(r: ReceivedResponse): void {
    this.connected = true;
    this.responses++;
    for (const v of r.values.values()) this.resourceBytes += v.byteLength;
    if (r.typeUrl === Cluster) this.follow(Endpoint, [...r.values.values()].flatMap((v) => edsNameOfCluster(v) ?? []));
    else if (r.typeUrl === Listener) {
      const names = new Set<string>();
      for (const v of r.values.values()) rdsNamesOfListener(v, names);
      this.follow(Route, [...names]);
    } else if (r.typeUrl === Route) {
      for (const [name, v] of r.values) this.routes.set(name, v);
      this.onRoutes(this);
    }
  }

  /** Subscribes to `names` of `type` as Envoy does after CDS or LDS: only when the set changed. */
  private follow(type: typeof Endpoint | typeof Route, names: string[]): void {
    const next = [...new Set(names)].sort();
    const current = type === Endpoint ? this.eds : this.rds;
    if (next.length === current.length && next.every((n, i) => n === current[i])) return;
    const gone = current.filter((n) => !next.includes(n));
    if (gone.length) this.client.unsubscribe(type, gone);
    this.client.subscribe(type, next);
    if (type === Endpoint) this.eds = next;
    else this.rds = next;
  }

  /** CDS and LDS arrived and every EDS and RDS name they lead to is held. */
  synced(): boolean {
    const c = this.client;
    return c.responseCount(Cluster) > 0 && c.responseCount(Listener) > 0 && c.size(Endpoint) >= this.eds.length && this.rds.length > 0 && c.size(Route) >= this.rds.length;
  }

  counts(): Record<string, number> {
    const c = this.client;
    return { clusters: c.size(Cluster), edsNames: this.eds.length, endpoints: c.size(Endpoint), listeners: c.size(Listener), rdsNames: this.rds.length, routes: c.size(Route) };
  }

  holds(markers: readonly Buffer[]): boolean {
    for (const m of markers) {
      let found = false;
      for (const v of this.routes.values()) if (v.includes(m)) found = true;
      if (!found) return false;
    }
    return true;
  }
}

function main(): void {
  const [target, countArg, servicesArg, istioVersion] = process.argv.slice(2);
  const count = Number(countArg);
  const services = Number(servicesArg);
  setLogLevel('error');
  const send = (m: FromWorker): void => void process.send?.(m);
  let watch: Watch | undefined;
  const check = (c: SimulatedSidecar): void => {
    const w = watch;
    if (!w || w.at[c.index] !== 0 || !c.holds(w.markers)) return;
    w.at[c.index] = now();
    if (--w.pending === 0) {
      watch = undefined;
      send({ op: 'seen', id: w.id, at: w.at });
    }
  };
  const clients: SimulatedSidecar[] = [];
  for (let p = 0; p < count; p++) clients.push(new SimulatedSidecar(p, target, services, istioVersion, check));
  setInterval(() => {
    for (const c of clients) c.retryIfFailed();
  }, 100);

  const counters = (): WireCounters => ({
    wireBytes: parseProcIoReadBytes(fs.readFileSync('/proc/self/io', 'utf8')),
    resourceBytes: clients.reduce((n, c) => n + c.resourceBytes, 0),
    responses: clients.reduce((n, c) => n + c.responses, 0),
  });

  // Progress until every client is synced.
  const startedAt = now();
  const progress = setInterval(() => {
    const synced = clients.filter((c) => c.synced()).length;
    const errors = clients.reduce((n, c) => n + c.failures, 0);
    send({ op: 'progress', connected: clients.filter((c) => c.connected).length, synced, errors, sample: clients[0].counts() });
    if (synced === count) {
      clearInterval(progress);
      send({ op: 'synced', ms: now() - startedAt, sample: clients[0].counts() });
    }
  }, 500);

  // The measuring process is gone (killed, or exited without stopping us): so are we.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: ToWorker) => {
    switch (m.op) {
      case 'watch': {
        const markers = m.markers.map(markerBytes);
        watch = { id: m.id, markers, at: clients.map(() => 0), pending: count };
        send({ op: 'watching', id: m.id });
        // A client may hold them already (a watch set after the write).
        for (const c of clients) check(c);
        break;
      }
      case 'counters':
        send({ op: 'counters', ...counters() });
        break;
      case 'stop':
        for (const c of clients) c.client.close();
        process.exit(0);
    }
  });
}

main();
