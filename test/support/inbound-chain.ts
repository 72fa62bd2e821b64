// A sidecar's inbound filter chain for one port, bound on a loopback port of its own: tests of
// inbound behaviour (authentication, authorization, mTLS) reach it directly, since nothing
// redirects traffic on the host. The chain is taken from the translated virtualInbound listener
// on every snapshot, so pushes change it as they change the real one.
import { VIRTUAL_INBOUND_LISTENER } from '../../src/translate/names.js';
import type { SnapshotProvider } from '../../src/xds/snapshot.js';
import { TypeUrl, type Listener } from '../../src/xds/types.js';

/** `sidecars`' snapshots plus a listener `test_inbound` on 127.0.0.1:`port` holding the chain named `chain`. */
export function withInboundChainOnLoopback(sidecars: SnapshotProvider, chain: string, port: number): SnapshotProvider {
  const testListener = (listeners: ReadonlyMap<string, Listener>): Listener | undefined => {
    const c = listeners.get(VIRTUAL_INBOUND_LISTENER)?.filter_chains?.find((x) => x.name === chain);
    return c && { name: 'test_inbound', address: { socket_address: { address: '127.0.0.1', port_value: port } }, filter_chains: [{ filters: c.filters, transport_socket: c.transport_socket }] };
  };
  return {
    snapshot: async (proxy, types) => {
      const s = await sidecars.snapshot(proxy, types);
      const listeners = s[TypeUrl.Listener];
      const extra = listeners && testListener(listeners);
      return extra ? { ...s, [TypeUrl.Listener]: new Map([...listeners, [extra.name!, extra]]) } : s;
    },
  };
}
