// Trellis as its Helm chart installed it (Deployment `trellis`), scaled to 0 while istiod is
// measured and back to its replicas for its own turn. The chart's `plaintextXds: true` adds
// `--xds-address=0.0.0.0:15010`; beyond 1,000 clients from one address (all the simulated ones
// come from the host) the plaintext port's per-address stream limit must be raised too. Both are
// flags of the Deployment: `ensureFlags` adds the missing ones and returns what restores it.
// While Trellis is down its webhook configurations are set aside too: with no pod behind them the
// API server's call to the validating webhook (failurePolicy Ignore) fails after up to seconds
// ("network is unreachable"), which would slow every write of istiod's turn; `stop` removes
// them (as uninstalling the chart would) and `start` puts them back as they were. They are set
// aside for Trellis's own turn too (unless --trellis-webhooks kept): istiod runs here without
// its validating webhook, so with Trellis's in place every write of Trellis's turn would pay an
// admission call that istiod's writes do not, and the bursts, timed from the first write, would
// count it against Trellis.
import fs from 'node:fs';
import type { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, V1Deployment, V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';

export const PLAINTEXT_FLAG = '--xds-address=0.0.0.0:15010';
export const STREAMS_FLAG = '--xds-max-streams-per-identity';

export interface TrellisRef {
  namespace: string;
  name: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The container args a deployment needs for `clients` plaintext clients from one address (pure). */
export function neededArgs(args: readonly string[], clients: number): string[] {
  const out = args.filter((a) => !a.startsWith(`${STREAMS_FLAG}=`));
  if (!out.some((a) => a.startsWith('--xds-address='))) out.push(PLAINTEXT_FLAG);
  const current = args.find((a) => a.startsWith(`${STREAMS_FLAG}=`));
  const limit = current ? Number(current.split('=')[1]) : 1000;
  if (clients > limit) out.push(`${STREAMS_FLAG}=${clients + 100}`);
  else if (current) out.push(current);
  return out;
}

export class Trellis {
  private stashed: { validating: V1ValidatingWebhookConfiguration[]; mutating: V1MutatingWebhookConfiguration[] } | undefined;

  constructor(
    private readonly apps: AppsV1Api,
    private readonly core: CoreV1Api,
    private readonly admission: AdmissionregistrationV1Api,
    readonly ref: TrellisRef,
  ) {}

  /** The webhook configurations whose service is Trellis's. */
  private async webhookConfigurations(): Promise<{ validating: V1ValidatingWebhookConfiguration[]; mutating: V1MutatingWebhookConfiguration[] }> {
    const ours = (c: { webhooks?: { clientConfig: { service?: { namespace: string } } }[] }) => (c.webhooks ?? []).some((w) => w.clientConfig.service?.namespace === this.ref.namespace);
    const [v, m] = await Promise.all([this.admission.listValidatingWebhookConfiguration(), this.admission.listMutatingWebhookConfiguration()]);
    return { validating: v.items.filter(ours), mutating: m.items.filter(ours) };
  }

  /** Scales Trellis to 0 and sets its webhook configurations aside. */
  async stop(): Promise<void> {
    await this.scale(0);
    await this.setWebhooksAside();
  }

  /** Removes Trellis's webhook configurations until `restoreWebhooks` (or `start`) puts them back. */
  async setWebhooksAside(): Promise<void> {
    if (this.stashed) return;
    const found = await this.webhookConfigurations();
    this.stashed = found;
    for (const c of found.validating) await this.admission.deleteValidatingWebhookConfiguration({ name: c.metadata?.name ?? '' });
    for (const c of found.mutating) await this.admission.deleteMutatingWebhookConfiguration({ name: c.metadata?.name ?? '' });
  }

  /** Puts the webhook configurations back as they were and scales Trellis to `replicas`. */
  async start(replicas = 1): Promise<void> {
    await this.restoreWebhooks();
    await this.scale(replicas);
  }

  async restoreWebhooks(): Promise<void> {
    const s = this.stashed;
    if (!s) return;
    const fresh = <T extends { metadata?: object }>(c: T): T => {
      const metadata = { ...(c.metadata as Record<string, unknown>) };
      for (const k of ['resourceVersion', 'uid', 'creationTimestamp', 'managedFields', 'generation']) delete metadata[k];
      return { ...c, metadata } as T;
    };
    for (const c of s.validating) await this.admission.createValidatingWebhookConfiguration({ body: fresh(c) });
    for (const c of s.mutating) await this.admission.createMutatingWebhookConfiguration({ body: fresh(c) });
    this.stashed = undefined;
  }

  deployment(): Promise<V1Deployment> {
    return this.apps.readNamespacedDeployment({ namespace: this.ref.namespace, name: this.ref.name });
  }

  private async setArgs(args: string[]): Promise<void> {
    const d = await this.deployment();
    const containers = d.spec?.template.spec?.containers ?? [];
    const i = containers.findIndex((c) => c.name === 'trellis');
    if (i < 0) throw new Error(`deployment ${this.ref.namespace}/${this.ref.name} has no container "trellis"`);
    await this.apps.patchNamespacedDeployment({
      namespace: this.ref.namespace,
      name: this.ref.name,
      body: [{ op: 'replace', path: `/spec/template/spec/containers/${i}/args`, value: args }],
    });
  }

  /** Adds the flags `clients` plaintext clients need; resolves with a function that puts the original args back (undefined if nothing changed). */
  async ensureFlags(clients: number): Promise<(() => Promise<void>) | undefined> {
    const d = await this.deployment();
    const original = d.spec?.template.spec?.containers.find((c) => c.name === 'trellis')?.args ?? [];
    const next = neededArgs(original, clients);
    if (next.length === original.length && next.every((a, i) => a === original[i])) return undefined;
    await this.setArgs(next);
    return () => this.setArgs(original);
  }

  /** Scales the deployment and waits until exactly `replicas` pods of the current template run and are ready. */
  async scale(replicas: number, timeoutMs = 180_000): Promise<void> {
    await this.apps.patchNamespacedDeploymentScale({ namespace: this.ref.namespace, name: this.ref.name, body: [{ op: 'replace', path: '/spec/replicas', value: replicas }] });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = await this.deployment();
      const s = d.status ?? {};
      const pods = await this.pods();
      const settled =
        (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
        (s.updatedReplicas ?? 0) === replicas &&
        (s.readyReplicas ?? 0) === replicas &&
        (s.replicas ?? 0) === replicas &&
        pods.length === replicas;
      if (settled) return;
      if (Date.now() > deadline) throw new Error(`deployment ${this.ref.namespace}/${this.ref.name} did not settle at ${replicas} replicas in ${timeoutMs} ms`);
      await sleep(500);
    }
  }

  /** The deployment's pods (any phase, terminating ones included). */
  async pods(): Promise<{ name: string; ip: string | undefined }[]> {
    const d = await this.deployment();
    const selector = Object.entries(d.spec?.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = await this.core.listNamespacedPod({ namespace: this.ref.namespace, labelSelector: selector });
    return list.items.map((p) => ({ name: p.metadata?.name ?? '', ip: p.status?.podIP }));
  }

  /** The one running pod's address and the PID of its control plane process on this host (the devcluster runs pods as host processes). */
  async running(): Promise<{ pod: string; ip: string; pid: number }> {
    const pods = await this.pods();
    if (pods.length !== 1 || !pods[0].ip) throw new Error(`want one running Trellis pod, found ${pods.length}`);
    return { pod: pods[0].name, ip: pods[0].ip, pid: pidOfPod(pods[0].name) };
  }
}

/** The PID of the Node.js process running dist/src/main.js with POD_NAME=<pod> in its environment. */
export function pidOfPod(pod: string): number {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('dist/src/main.js')) continue;
      const environ = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`POD_NAME=${pod}`)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  if (found.length !== 1) throw new Error(`want one process of pod ${pod}, found ${found.length} (${found.join(', ')})`);
  return found[0];
}
