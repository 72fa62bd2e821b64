// Delta (incremental) streams (DeltaAggregatedResources and the per-type Delta* methods).
import { createHash } from 'node:crypto';
import { setVersion } from './encoded-resource.js';
import { XdsStream } from './stream.js';
import type { Plan, TypeState } from './type-state.js';
import { encodeDeltaResponse, type DeltaDiscoveryRequest__Output } from './wire.js';

export class DeltaStream extends XdsStream<DeltaDiscoveryRequest__Output> {
  protected apply(st: TypeState, req: DeltaDiscoveryRequest__Output): void {
    const first = st.firstRequest();
    // The nonce pairs an ACK/NACK with a response; subscription changes count even when the
    // nonce is stale.
    if (req.response_nonce && st.inflight?.nonce === req.response_nonce) {
      if (req.error_detail) this.nacked(st, req.error_detail);
      else this.acked(st);
    }
    st.subscribeDelta(req.resource_names_subscribe, req.resource_names_unsubscribe, first, req.initial_resource_versions, this.canonicalName(st.typeUrl));
  }

  protected versionOf(plan: Plan): string {
    if (plan.removed.length === 0) return setVersion(plan.resources);
    return createHash('sha256').update(setVersion(plan.resources)).update(plan.removed.join('\n')).digest('base64url').slice(0, 12);
  }

  protected encode(st: TypeState, plan: Plan, nonce: string, version: string): Buffer {
    return encodeDeltaResponse({ systemVersionInfo: version, typeUrl: st.typeUrl, nonce, resources: plan.resources, removed: plan.removed, controlPlane: this.host.controlPlaneId });
  }
}
