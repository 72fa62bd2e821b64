// Runs the real Envoy for tests and benchmarks: the binary tools/devcluster installs (version
// from tools/devcluster/versions.env), a bootstrap pointing at an xDS server on loopback, admin
// on a free loopback port, and helpers to read /config_dump, /stats and /clusters. Every
// process started here is killed by stop() and, as a last resort, when this process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { EncodedResource } from '../../src/xds/encoded-resource.js';
import { XdsServer } from '../../src/xds/server.js';
import type { SnapshotProvider } from '../../src/xds/snapshot.js';
import { MeshCa } from '../../src/ca/authority.js';
import { createCsr, spiffeId } from '../../src/ca/csr.js';
import { SdsServer } from './sds/sds-server.js';
import { agentSdsCluster, grpcProtocolOptions } from '../../src/sidecar/bootstrap.js';
import { SDS_CLUSTER } from '../../src/api/mesh-identity.js';
import { loggerFor } from '../../src/util/logger.js';

/** The repository root (found upwards from this file, from test/support/ or dist/test/support/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'tools/devcluster/versions.env'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find tools/devcluster/versions.env above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** $TRELLIS_ENVOY, else the devcluster's Envoy of the pinned ENVOY_VERSION. */
export function envoyBinary(): string {
  if (process.env.TRELLIS_ENVOY) return process.env.TRELLIS_ENVOY;
  const root = repoRoot();
  const versions = fs.readFileSync(path.join(root, 'tools/devcluster/versions.env'), 'utf8');
  const version = /^ENVOY_VERSION=(\S+)/m.exec(versions)?.[1];
  if (!version) throw new Error('ENVOY_VERSION is not set in tools/devcluster/versions.env');
  const bin = path.join(root, `.devcluster/cache/envoy-${version}/envoy`);
  if (!fs.existsSync(bin)) throw new Error(`no Envoy at ${bin}: run tools/devcluster/build-binaries.sh envoy`);
  return bin;
}

export interface BootstrapOptions {
  nodeId: string;
  xdsPort: number;
  /** GRPC (state of the world) or DELTA_GRPC. */
  apiType?: 'GRPC' | 'DELTA_GRPC';
  /** ADS (default), or one stream per type to the per-type services. */
  ads?: boolean;
  cluster?: string;
  metadata?: Record<string, string>;
  /** Reach the server over TLS, verifying it with this CA file and this name (SNI and SAN). */
  tls?: { caFile: string; serverName: string };
}

export const XDS_CLUSTER = 'xds-grpc';

/** An Envoy bootstrap (v3, as JSON) that takes everything from the xDS server. */
export function bootstrap(o: BootstrapOptions): Record<string, unknown> {
  const apiType = o.apiType ?? 'GRPC';
  const grpcServices = [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }];
  const source = o.ads === false ? { api_config_source: { api_type: apiType, transport_api_version: 'V3', grpc_services: grpcServices }, resource_api_version: 'V3' } : { ads: {}, resource_api_version: 'V3' };
  return {
    node: { id: o.nodeId, cluster: o.cluster ?? 'trellis-test', metadata: o.metadata ?? {} },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    dynamic_resources: {
      ...(o.ads === false ? {} : { ads_config: { api_type: apiType, transport_api_version: 'V3', grpc_services: grpcServices, set_node_on_first_message_only: true } }),
      cds_config: source,
      lds_config: source,
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          typed_extension_protocol_options: grpcProtocolOptions(),
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: o.xdsPort } } } }] }],
          },
          ...(o.tls ? { transport_socket: xdsTlsSocket(o.tls) } : {}),
        },
      ],
    },
  };
}

/** TLS to the xDS server (HTTP/2 by ALPN), verifying its certificate's name and CA. */
function xdsTlsSocket(tls: { caFile: string; serverName: string }): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: tls.serverName,
      common_tls_context: {
        alpn_protocols: ['h2'],
        validation_context: {
          trusted_ca: { filename: tls.caFile },
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: tls.serverName } }],
        },
      },
    },
  };
}

/**
 * A binary Bootstrap holding encoded resources as static_resources (listeners = 1,
 * clusters = 2, secrets = 3 of StaticResources; static_resources = 2 of Bootstrap), so
 * `envoy --mode validate` checks the exact bytes the xDS server sends.
 */
export function staticResourcesBootstrap(r: { listeners?: readonly EncodedResource[]; clusters?: readonly EncodedResource[]; secrets?: readonly EncodedResource[] }): Buffer {
  const s = protobuf.Writer.create();
  for (const l of r.listeners ?? []) s.uint32((1 << 3) | 2).bytes(l.value);
  for (const c of r.clusters ?? []) s.uint32((2 << 3) | 2).bytes(c.value);
  for (const x of r.secrets ?? []) s.uint32((3 << 3) | 2).bytes(x.value);
  const b = protobuf.Writer.create();
  b.uint32((2 << 3) | 2).bytes(s.finish());
  return Buffer.from(b.finish());
}

export interface RunResult {
  code: number;
  output: string;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-envoy-'));
}

/**
 * `envoy --mode validate`: a JSON bootstrap, and/or a binary one (.pb), merged as Envoy merges
 * --config-path and --config-yaml.
 */
export async function validateBootstrap(config: { json?: Record<string, unknown>; binary?: Buffer }): Promise<RunResult> {
  const dir = tmpDir();
  const args = ['--mode', 'validate', '--disable-hot-restart', '-l', 'error'];
  if (config.binary) {
    fs.writeFileSync(path.join(dir, 'bootstrap.pb'), config.binary);
    args.push('-c', path.join(dir, 'bootstrap.pb'));
    if (config.json) args.push('--config-yaml', JSON.stringify(config.json));
  } else if (config.json) {
    fs.writeFileSync(path.join(dir, 'bootstrap.json'), JSON.stringify(config.json));
    args.push('-c', path.join(dir, 'bootstrap.json'));
  }
  try {
    return await new Promise<RunResult>((resolve) => {
      // stdout is a file, as in a pod: Envoy opens /dev/stdout for an access log, which fails on
      // the socket Node makes of a 'pipe' (ENXIO).
      const stdout = path.join(dir, 'stdout');
      const fd = fs.openSync(stdout, 'w');
      const child = spawn(envoyBinary(), args, { stdio: ['ignore', fd, 'pipe'] });
      fs.closeSync(fd);
      let output = '';
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? 1, output: fs.readFileSync(stdout, 'utf8') + output }));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Every Envoy started here, killed if this process exits without stopping them.
const KEY = Symbol.for('trellis.testing.envoys');
const holder = process as unknown as { [KEY]?: Set<ChildProcess> };
const running: Set<ChildProcess> = holder[KEY] ?? new Set();
if (!holder[KEY]) {
  holder[KEY] = running;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/** One throwaway mesh CA per test process: what the agent's certificates are signed by. */
let testCa: Promise<MeshCa> | undefined;
export function testMeshCa(): Promise<MeshCa> {
  return (testCa ??= MeshCa.create({ trustDomain: 'cluster.local' }));
}

/**
 * What the agent gives Envoy in a pod: an SDS server on a Unix socket serving a workload
 * certificate (`default`) for `identity` and the mesh root (`ROOTCA`), from testMeshCa().
 */
export async function startTestAgent(socketPath: string, identity: { namespace: string; serviceAccount: string }): Promise<SdsServer> {
  const ca = await testMeshCa();
  const id = spiffeId({ trustDomain: 'cluster.local', ...identity });
  const { csrPem, keyPem } = createCsr(id);
  const chain = await ca.sign(csrPem, { trustDomain: 'cluster.local', ...identity }, 3600);
  const sds = new SdsServer(socketPath, loggerFor('test-agent'));
  await sds.start({ chainPem: chain.slice(0, -1).join(''), keyPem, rootPem: ca.rootPem });
  return sds;
}

/** The namespace of an Istio node id (`type~ip~pod.ns~ns.svc.domain`), else "default". */
function nodeNamespace(config: Record<string, unknown>): string {
  const id = (config.node as { id?: string } | undefined)?.id ?? '';
  const parts = id.split('~');
  return parts.length === 4 && parts[2].includes('.') ? parts[2].slice(parts[2].lastIndexOf('.') + 1) : 'default';
}

/** Adds the `sds-grpc` cluster (the agent's socket) unless the bootstrap has one. */
function withAgentCluster(config: Record<string, unknown>, socketPath: string): { config: Record<string, unknown>; added: boolean } {
  const statics = (config.static_resources ?? {}) as { clusters?: { name: string }[] };
  if (!statics.clusters || statics.clusters.some((c) => c.name === SDS_CLUSTER)) return { config, added: false };
  const sds = agentSdsCluster(socketPath);
  return { config: { ...config, static_resources: { ...statics, clusters: [...statics.clusters, sds] } }, added: true };
}

export class Envoy {
  private logTail = '';
  private agent: SdsServer | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly adminUrl: string,
  ) {}

  /** What Envoy wrote to its stdout so far (the access logs of a /dev/stdout provider). */
  stdoutText(): string {
    return fs.readFileSync(path.join(this.dir, 'stdout'), 'utf8');
  }

  /**
   * Starts Envoy with `config` and waits until its admin API answers. As in a pod, Envoy gets
   * its workload certificate from an agent over SDS (startTestAgent) unless the bootstrap
   * already names an `sds-grpc` cluster.
   */
  static async start(original: Record<string, unknown>, opts: { logLevel?: string } = {}): Promise<Envoy> {
    const dir = tmpDir();
    const socketPath = path.join(dir, 'sds.sock');
    const { config, added } = withAgentCluster(original, socketPath);
    const agent = added ? await startTestAgent(socketPath, { namespace: nodeNamespace(original), serviceAccount: 'default' }) : undefined;
    const cfg = path.join(dir, 'bootstrap.json');
    const adminPath = path.join(dir, 'admin-address');
    fs.writeFileSync(cfg, JSON.stringify(config));
    // No hot restart: no shared memory, so any number of Envoys run side by side.
    const args = ['-c', cfg, '--disable-hot-restart', '--concurrency', '1', '--admin-address-path', adminPath, '-l', opts.logLevel ?? 'warning', '--drain-time-s', '1'];
    // stdout to a file (stdoutText() reads it): access logs to /dev/stdout land there, and Envoy
    // cannot open /dev/stdout on the socket Node makes of a 'pipe'.
    const out = fs.openSync(path.join(dir, 'stdout'), 'w');
    const child = spawn(envoyBinary(), args, { stdio: ['ignore', out, 'pipe'] });
    fs.closeSync(out);
    running.add(child);
    child.on('exit', () => running.delete(child));
    let tail = '';
    child.stderr?.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-20000);
    });
    const deadline = Date.now() + 20000;
    while (!fs.existsSync(adminPath) || fs.readFileSync(adminPath, 'utf8').trim() === '') {
      if (child.exitCode !== null) throw new Error(`envoy exited (${child.exitCode}):\n${tail}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`envoy did not start its admin API:\n${tail}`);
      }
      await sleep(50);
    }
    const envoy = new Envoy(child, dir, `http://${fs.readFileSync(adminPath, 'utf8').trim()}`);
    envoy.agent = agent;
    child.stderr?.on('data', (d: Buffer) => {
      envoy.logTail = (envoy.logTail + d.toString()).slice(-20000);
    });
    envoy.logTail = tail;
    return envoy;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** waitFor (30 s), failing with Envoy's last log lines. */
  async eventually<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T> {
    try {
      return await waitFor(what, fn, 30_000);
    } catch (err) {
      throw new Error(`${String(err)}\n--- envoy log ---\n${this.log.slice(-4000)}`, { cause: err });
    }
  }

  /** The last lines Envoy logged (for failure messages). */
  get log(): string {
    return this.logTail;
  }

  async admin(pathAndQuery: string, method = 'GET'): Promise<string> {
    const res = await fetch(this.adminUrl + pathAndQuery, { method });
    const body = await res.text();
    if (!res.ok) throw new Error(`envoy admin ${pathAndQuery}: ${res.status} ${body}`);
    return body;
  }

  /** /config_dump as JSON (optionally `?resource=...`, `&include_eds`). */
  async configDump(query = ''): Promise<ConfigDump> {
    return JSON.parse(await this.admin(`/config_dump${query}`)) as ConfigDump;
  }

  /** Counters and gauges from /stats, by name. */
  async stats(filter?: string): Promise<Map<string, number>> {
    const text = await this.admin(`/stats${filter ? `?filter=${encodeURIComponent(filter)}` : ''}`);
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^([^:]+): (\d+)$/.exec(line.trim());
      if (m) out.set(m[1], Number(m[2]));
    }
    return out;
  }

  async stat(name: string): Promise<number> {
    return (await this.stats(`^${name.replace(/[.]/g, '\\.')}$`)).get(name) ?? 0;
  }

  /** Stops Envoy (SIGTERM, then SIGKILL) and removes its files. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(this.child);
    await this.agent?.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** An XdsServer on a free loopback port and an Envoy taking its configuration from it. */
export async function startXdsAndEnvoy(provider: SnapshotProvider, o: Omit<BootstrapOptions, 'xdsPort'>): Promise<{ server: XdsServer; xdsPort: number; envoy: Envoy }> {
  const server = new XdsServer({ provider });
  const xdsPort = await server.listen('127.0.0.1:0');
  const envoy = await Envoy.start(bootstrap({ ...o, xdsPort }));
  return { server, xdsPort, envoy };
}

/** A loopback TCP port free right now (for an Envoy listener). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The parts of /config_dump the tests read. */
export interface ConfigDump {
  configs: Array<{ '@type': string } & Record<string, unknown>>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns something other than undefined/false. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}
