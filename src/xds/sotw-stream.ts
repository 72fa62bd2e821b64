// State-of-the-world streams (StreamAggregatedResources and the per-type Stream* methods).
import { loggerFor } from '../util/logger.js';
import { setVersion } from './encoded-resource.js';
import { XdsStream } from './stream.js';
import type { Plan, TypeState } from './type-state.js';
import { encodeSotwResponse, type DiscoveryRequest__Output } from './wire.js';

const log = loggerFor('xds');

export class SotwStream extends XdsStream<DiscoveryRequest__Output> {
  protected apply(st: TypeState, req: DiscoveryRequest__Output): void {
    const first = st.firstRequest();
    const nonce = req.response_nonce;
    if (!first) {
      // A request answering an older response than the latest one is stale: ignore it whole.
      // The ACK of the latest response will carry the client's current subscription.
      const stale = nonce === '' ? st.inflight !== undefined : nonce !== st.lastNonce;
      if (stale) {
        log.debug('ignoring a request with a stale nonce', { stream: this.id, proxy: this.proxy?.id, type: st.typeUrl, nonce, latest: st.lastNonce });
        return;
      }
    }
    if (st.inflight && nonce === st.inflight.nonce) {
      // A NACK is a request with error_detail; its version_info is the last version accepted.
      if (req.error_detail) this.nacked(st, req.error_detail);
      else this.acked(st);
    }
    st.subscribeSotw(req.resource_names, first, this.canonicalName(st.typeUrl));
  }

  protected versionOf(plan: Plan): string {
    return setVersion(plan.resources);
  }

  protected encode(st: TypeState, plan: Plan, nonce: string, version: string): Buffer {
    return encodeSotwResponse({ versionInfo: version, typeUrl: st.typeUrl, nonce, resources: plan.resources, controlPlane: this.host.controlPlaneId });
  }
}
