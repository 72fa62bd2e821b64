// One node id, one owner: whatever the order streams arrive in, a stream of another identity
// never joins (or takes over) a node's entry; the newest node of the same identity decides what
// the proxy gets; a newer ADS stream replaces the older one.
import { parseNode, type ProxyInfo } from '../../src/xds/proxy-info.js';
import { MAX_STREAMS_PER_NODE, ProxyRegistry, type StreamHandle } from '../../src/xds/proxy-registry.js';

const ID = 'sidecar~10.244.0.9~web-0.shop~shop.svc.cluster.local';

function node(serviceAccount: string, labels: Record<string, string> = { app: 'web' }): ProxyInfo {
  const fields = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, { kind: 'stringValue', stringValue: v }]));
  const info = parseNode({ id: ID, metadata: { fields: { NAMESPACE: { kind: 'stringValue', stringValue: 'shop' }, LABELS: { kind: 'structValue', structValue: { fields } } } } } as never);
  return { ...info, identity: { namespace: 'shop', serviceAccount } };
}

let seq = 0;
function stream(service = 'ads'): StreamHandle & { endedWith?: string } {
  const s: StreamHandle & { endedWith?: string } = {
    id: `${++seq}`,
    service,
    peer: 'ipv4:10.244.0.9:40000',
    desiredChanged: () => undefined,
    settledOn: () => true,
    rejection: () => undefined,
    status: () => ({ id: s.id, service, protocol: 'sotw', openedAt: new Date(), types: [] }),
    end: () => undefined,
    replaced: (reason: string) => void (s.endedWith = reason),
  };
  return s;
}

test('a stream of another identity is refused, before and after the owner reconnects', () => {
  const reg = new ProxyRegistry();
  const owner = reg.attach(node('web'), stream());
  expect(owner.kind).toBe('new');
  const squat = reg.attach(node('attacker', { app: 'admin' }), stream());
  expect(squat).toMatchObject({ kind: 'refused', owner: 'shop/web' });
  expect(reg.get(ID)?.info.labels).toEqual({ app: 'web' });
  // The owner's newer ADS stream (a reconnection) replaces its older one, not the attacker's.
  const older = owner.kind === 'new' ? [...owner.proxy.streams][0] : undefined;
  const again = reg.attach(node('web'), stream());
  expect(again.kind).toBe('joined');
  expect(again.kind !== 'refused' && again.replaced).toEqual([older]);
  expect(reg.attach(node('attacker'), stream()).kind).toBe('refused');
});

test('the newest node of the same identity decides: different metadata replaces the entry and its streams', () => {
  const reg = new ProxyRegistry();
  const first = reg.attach(node('web', { app: 'web', version: 'v1' }), stream());
  const cds = stream('cds');
  expect(reg.attach(node('web', { app: 'web', version: 'v1' }), cds).kind).toBe('joined'); // a per-type stream of the same node
  const restarted = reg.attach(node('web', { app: 'web', version: 'v2' }), stream());
  expect(restarted.kind).toBe('new');
  expect(restarted.kind !== 'refused' && restarted.replaced.length).toBe(2);
  expect(reg.get(ID)?.info.labels).toEqual({ app: 'web', version: 'v2' });
  // The older streams closing later does not remove the newer entry.
  if (first.kind !== 'refused') for (const s of [...first.proxy.streams]) reg.detach(first.proxy, s);
  expect(reg.get(ID)?.info.labels.version).toBe('v2');
});

test('per-type streams of one node join; past the limit they are refused', () => {
  const reg = new ProxyRegistry();
  for (let i = 0; i < MAX_STREAMS_PER_NODE; i++) expect(reg.attach(node('web'), stream('eds')).kind).toBe(i === 0 ? 'new' : 'joined');
  expect(reg.attach(node('web'), stream('eds'))).toMatchObject({ kind: 'refused', reason: expect.stringContaining(`already holds ${MAX_STREAMS_PER_NODE} streams`) });
});
