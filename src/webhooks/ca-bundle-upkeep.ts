// Keeps the webhooks serving: puts the caBundle back as soon as a webhook configuration is
// created or rewritten (a `helm upgrade` rewrites them), and every minute renews the serving
// certificate when it nears expiry and rechecks the caBundles.
import type { KubernetesObject } from '@kubernetes/client-node';
import { Informer } from '../kube/informer.js';
import type { Logger } from '../util/logger.js';
import type { CertManager } from './cert-manager.js';
import type { AdmissionServer } from './server.js';
import type { KubeAccess } from '../kube/access.js';

export interface CaBundleUpkeep {
  /** Resolves once the webhook configurations' informers have listed. */
  start(): Promise<void>;
  stop(): void;
}

export function caBundleUpkeep(opts: {
  kc: KubeAccess;
  certs: CertManager;
  /** Where a renewed serving certificate goes (the webhook server, and xDS over TLS). */
  admission: Pick<AdmissionServer, 'setCertificate'>;
  mutatingConfig: string;
  validatingConfig: string;
  log: Logger;
  intervalMs?: number;
}): CaBundleUpkeep {
  const { certs, admission, log } = opts;
  const informers = [
    ['mutatingwebhookconfigurations', opts.mutatingConfig],
    ['validatingwebhookconfigurations', opts.validatingConfig],
  ].map(([plural, name]) => {
    const inf = new Informer<KubernetesObject>({ kc: opts.kc, path: `/apis/admissionregistration.k8s.io/v1/${plural}`, fieldSelector: `metadata.name=${name}`, log });
    inf.on((event) => {
      if (event === 'add' || event === 'update') void certs.patchCaBundles();
    });
    return inf;
  });
  let timer: NodeJS.Timeout | undefined;
  return {
    async start() {
      timer = setInterval(() => {
        void certs
          .ensure()
          .then((pair) => admission.setCertificate(pair))
          .then(() => certs.patchCaBundles())
          .catch((err: unknown) => log.warn('webhook certificate upkeep failed', { error: String(err) }));
      }, opts.intervalMs ?? 60_000);
      await Promise.all(informers.map((i) => i.start()));
    },
    stop() {
      clearInterval(timer);
      informers.forEach((i) => i.stop());
    },
  };
}
