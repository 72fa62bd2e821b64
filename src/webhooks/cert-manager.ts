// Keeps the webhooks' serving certificate: a CA and a serving certificate stored in a Secret
// (so every replica serves the same chain), the CA patched into the webhook configurations'
// caBundle, and the serving certificate renewed before it expires.
import { ApiError, type Rest } from '../kube/rest.js';
import type { Logger } from '../util/logger.js';
import { createCa, issueServing, needsRenewal, type KeyPairPem, type WebhookCerts } from './certs.js';

export interface CertManagerOptions {
  rest: Rest;
  log: Logger;
  namespace: string;
  secretName: string;
  dnsNames: string[];
  ips: string[];
  mutatingConfigs: string[];
  validatingConfigs: string[];
  renewBeforeDays?: number;
}

interface SecretShape {
  metadata?: { resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined): string => Buffer.from(s ?? '', 'base64').toString('utf8');

export class CertManager {
  private current: WebhookCerts | undefined;
  constructor(private readonly opts: CertManagerOptions) {}

  get certs(): WebhookCerts | undefined {
    return this.current;
  }

  /** Loads or creates the certificates; returns the serving pair. Safe for several replicas. */
  async ensure(): Promise<KeyPairPem> {
    const o = this.opts;
    const path = `/api/v1/namespaces/${o.namespace}/secrets/${o.secretName}`;
    for (let attempt = 0; attempt < 5; attempt++) {
      let secret: SecretShape | undefined;
      try {
        secret = await o.rest.get<SecretShape>(path);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      let ca: KeyPairPem | undefined = secret?.data?.['ca.crt'] ? { cert: unb64(secret.data['ca.crt']), key: unb64(secret.data['ca.key']) } : undefined;
      let serving: KeyPairPem | undefined = secret?.data?.['tls.crt'] ? { cert: unb64(secret.data['tls.crt']), key: unb64(secret.data['tls.key']) } : undefined;
      const renewDays = o.renewBeforeDays ?? 30;
      // The CA is renewed twice as early as the serving certificate it signs.
      const caFresh = ca !== undefined && !needsRenewal(ca.cert, [], [], renewDays * 2);
      if (ca && caFresh && serving && !needsRenewal(serving.cert, o.dnsNames, o.ips, renewDays)) {
        this.current = { ca, serving };
        return serving;
      }
      if (!ca || !caFresh) ca = await createCa();
      serving = await issueServing(ca, o.dnsNames, o.ips);
      const data = { 'ca.crt': b64(ca.cert), 'ca.key': b64(ca.key), 'tls.crt': b64(serving.cert), 'tls.key': b64(serving.key) };
      try {
        if (secret) {
          // The resourceVersion makes this a compare-and-swap: a replica that lost the race retries.
          // Labels and annotations stay (the chart that owns this Secret keeps owning it).
          const { resourceVersion, labels, annotations } = secret.metadata ?? {};
          await o.rest.request('PUT', path, { apiVersion: 'v1', kind: 'Secret', metadata: { name: o.secretName, namespace: o.namespace, resourceVersion, labels, annotations }, type: 'Opaque', data });
        } else {
          await o.rest.request('POST', `/api/v1/namespaces/${o.namespace}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: o.secretName, namespace: o.namespace }, type: 'Opaque', data });
        }
        o.log.info('webhook certificate issued', { secret: `${o.namespace}/${o.secretName}`, names: [...o.dnsNames, ...o.ips] });
        this.current = { ca, serving };
        return serving;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) throw err;
      }
    }
    throw new Error(`could not write Secret ${o.namespace}/${o.secretName}: conflicts kept happening`);
  }

  /** Writes the CA into every webhook of the named configurations that do not have it yet. */
  async patchCaBundles(): Promise<void> {
    const ca = this.current?.ca.cert;
    if (!ca) return;
    const bundle = b64(ca);
    const targets = [
      ...this.opts.mutatingConfigs.map((n) => `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${n}`),
      ...this.opts.validatingConfigs.map((n) => `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${n}`),
    ];
    for (const path of targets) {
      try {
        const cfg = await this.opts.rest.get<{ webhooks?: { clientConfig?: { caBundle?: string } }[] }>(path);
        const ops = (cfg.webhooks ?? []).flatMap((w, i) => (w.clientConfig?.caBundle === bundle ? [] : [{ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle }]));
        if (ops.length === 0) continue;
        await this.opts.rest.jsonPatch(path, ops);
        this.opts.log.info('caBundle patched', { config: path.split('/').slice(-2).join('/') });
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) this.opts.log.debug('webhook configuration not found', { path });
        else this.opts.log.warn('caBundle patch failed', { path, error: String(err) });
      }
    }
  }
}
