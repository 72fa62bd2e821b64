// istiod (pilot-discovery, built by build-istiod.sh) as a host process against the devcluster's
// API server, on non-default ports, with what it would write into the cluster turned off where
// Istio lets us: no CA (so no istio-ca-secret and no istio-ca-root-cert ConfigMap in every
// namespace: the namespace controller runs only with a CA), no injection or validation webhook
// (and so no webhook configuration patched), no TLS xDS or webhook server. What it still writes
// is in its own namespace (leader election leases) and goes with it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface IstiodOptions {
  binary: string;
  kubeconfig: string;
  /** Its "system" namespace: root namespace of the mesh config, leader election, created by the caller. */
  namespace: string;
  /** A folder for its mesh config and log. */
  workDir: string;
  grpcPort: number;
  httpPort: number;
  monitoringPort: number;
  /**
   * With its CA: TLS gRPC (the CA and xDS) on this loopback port, its own root in istio-ca-secret
   * of `namespace`, and istio-ca-root-cert ConfigMaps written into every namespace (where Trellis
   * writes its own: stop Trellis first). bench/ca-load.ts compares the two CAs with it.
   */
  securePort?: number;
  /** Extra environment (e.g. PILOT_DEBOUNCE_AFTER=...). */
  env?: Record<string, string>;
  /** Extra flags (e.g. --kubernetesApiQPS=1000). */
  args?: string[];
}

/** The mesh config istiod is started with: Istio's defaults but the root namespace and the discovery address. */
export function istiodMeshConfig(o: Pick<IstiodOptions, 'namespace' | 'grpcPort'>): string {
  return [`rootNamespace: ${o.namespace}`, 'trustDomain: cluster.local', 'defaultConfig:', `  discoveryAddress: 127.0.0.1:${o.grpcPort}`, ''].join('\n');
}

/** The command line and environment of pilot-discovery outside a pod. */
export function istiodCommand(o: IstiodOptions): { args: string[]; env: Record<string, string> } {
  const meshConfig = path.join(o.workDir, 'mesh.yaml');
  const args = [
    'discovery',
    `--kubeconfig=${o.kubeconfig}`,
    `--meshConfig=${meshConfig}`,
    `--networksConfig=${path.join(o.workDir, 'meshNetworks.yaml')}`,
    `--namespace=${o.namespace}`,
    '--registries=Kubernetes',
    '--clusterID=Kubernetes',
    '--domain=cluster.local',
    `--grpcAddr=127.0.0.1:${o.grpcPort}`,
    `--httpAddr=127.0.0.1:${o.httpPort}`,
    `--monitoringAddr=127.0.0.1:${o.monitoringPort}`,
    // No TLS xDS (15012) unless its CA is wanted, and no HTTPS webhook server (15017).
    `--secureGRPCAddr=${o.securePort ? `127.0.0.1:${o.securePort}` : ''}`,
    '--httpsAddr=',
    '--ctrlz_port=0', // ControlZ on a free loopback port
    '--shutdownDuration=1s',
    ...(o.args ?? []),
  ];
  const env: Record<string, string> = {
    POD_NAME: 'istiod-vs-istiod-bench',
    POD_NAMESPACE: o.namespace,
    KUBECONFIG: o.kubeconfig,
    // No CA unless asked: no istio-ca-secret, no root certificate ConfigMaps (Trellis writes istio-ca-root-cert too).
    ENABLE_CA_SERVER: o.securePort ? 'true' : 'false',
    PILOT_CERT_PROVIDER: o.securePort ? 'istiod' : 'none',
    // No injector, and no webhook configuration to patch (validation and injection).
    INJECT_ENABLED: 'false',
    VALIDATION_WEBHOOK_CONFIG_NAME: '',
    INJECTION_WEBHOOK_CONFIG_NAME: '',
    ...o.env,
  };
  return { args, env };
}

export class Istiod {
  private constructor(
    readonly proc: ChildProcess,
    readonly logPath: string,
    private readonly exited: Promise<number | null>,
  ) {}

  get pid(): number {
    if (this.proc.pid === undefined) throw new Error('istiod has no pid');
    return this.proc.pid;
  }

  static async start(o: IstiodOptions, readyTimeoutMs = 180_000): Promise<Istiod> {
    fs.mkdirSync(o.workDir, { recursive: true });
    fs.writeFileSync(path.join(o.workDir, 'mesh.yaml'), istiodMeshConfig(o));
    fs.writeFileSync(path.join(o.workDir, 'meshNetworks.yaml'), 'networks: {}\n');
    const logPath = path.join(o.workDir, 'istiod.log');
    const log = fs.openSync(logPath, 'w');
    const { args, env } = istiodCommand(o);
    const proc = spawn(o.binary, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const istiod = new Istiod(proc, logPath, exited);
    const deadline = Date.now() + readyTimeoutMs;
    let gone = false;
    void exited.then(() => (gone = true));
    for (;;) {
      if (gone) throw new Error(`istiod exited during start; see ${logPath}:\n${tail(logPath)}`);
      const ok = await fetch(`http://127.0.0.1:${o.httpPort}/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return istiod;
      if (Date.now() > deadline) {
        await istiod.stop();
        throw new Error(`istiod not ready in ${readyTimeoutMs} ms; see ${logPath}:\n${tail(logPath)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
