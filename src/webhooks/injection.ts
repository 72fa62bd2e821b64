// The mutating webhook's handler: /inject for pod CREATE. The patch is computed by
// fast-json-patch as the difference between the pod and the injected pod.
import type { V1Pod } from '@kubernetes/client-node';
import jsonpatch from 'fast-json-patch';
import { Histogram } from 'prom-client';
import type { Logger } from '../util/logger.js';
import { registry } from '../util/metrics.js';
import type { AdmissionRequest, AdmissionResponse } from './admission.js';
import { injectPod, type InjectOptions } from './inject.js';

export const injectionSeconds = new Histogram({
  name: 'trellis_injection_seconds',
  help: 'Time to compute an injection patch, inside the webhook.',
  buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
  registers: [registry],
});

/** `observe` gets each patch's computing time (default: trellis_injection_seconds of this thread's registry). */
export function injectionHandler(opts: InjectOptions, log: Logger, observe: (seconds: number) => void = (s) => injectionSeconds.observe(s)): (req: AdmissionRequest) => AdmissionResponse {
  return (req) => {
    const start = performance.now();
    try {
      if (req.kind.kind !== 'Pod' || req.operation !== 'CREATE' || !req.object) return { uid: req.uid, allowed: true };
      const pod = req.object as V1Pod;
      const name = pod.metadata?.name || `${pod.metadata?.generateName ?? ''}<generated>`;
      const result = injectPod(pod, opts);
      if ('rejected' in result) {
        log.warn('pod rejected: it cannot be injected', { namespace: req.namespace, pod: name, reason: result.rejected });
        return { uid: req.uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `trellis: sidecar injection: ${result.rejected}` } };
      }
      if ('skipped' in result) {
        if (result.warnings.length) log.warn('pod admitted without a sidecar', { namespace: req.namespace, pod: name, warnings: result.warnings });
        else log.debug('injection skipped', { namespace: req.namespace, pod: name, reason: result.skipped });
        return { uid: req.uid, allowed: true, ...(result.warnings.length ? { warnings: result.warnings } : {}) };
      }
      const patch = jsonpatch.compare(pod, result.injected);
      log.info('sidecar injected', { namespace: req.namespace, pod: name });
      return { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64'), ...(result.warnings.length ? { warnings: result.warnings } : {}) };
    } finally {
      observe((performance.now() - start) / 1000);
    }
  };
}
