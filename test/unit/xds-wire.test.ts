// Responses written around pre-encoded resources decode as the real messages; requests decode
// the same with their node left encoded until read.
import { setVersion } from '../../src/xds/encoded-resource.js';
import { ResourceCache } from '../../src/xds/resource-cache.js';
import { decodeDeltaRequest, decodeDeltaResponse, decodeSotwRequest, decodeSotwResponse, encodeDeltaRequest, encodeDeltaResponse, encodeSotwRequest, encodeSotwResponse } from '../../src/xds/wire.js';
import { edsCluster } from '../support/envoy-resources.js';
import { decodeMessage, unpackAny } from '../../src/xds/protos.js';
import { TypeUrl } from '../../src/xds/types.js';

const cache = new ResourceCache();

test('a state-of-the-world response carries the resources as Any, with version, nonce and control plane', () => {
  const a = cache.encode(TypeUrl.Cluster, 'a', edsCluster('a'));
  const b = cache.encode(TypeUrl.Cluster, 'b', edsCluster('b'));
  const r = decodeSotwResponse(encodeSotwResponse({ versionInfo: 'v1', typeUrl: TypeUrl.Cluster, nonce: 'n1', resources: [a, b], controlPlane: 'trellis' }));
  expect(r).toMatchObject({ version_info: 'v1', type_url: TypeUrl.Cluster, nonce: 'n1', control_plane: { identifier: 'trellis' } });
  expect(r.resources.map((x) => unpackAny(x))).toEqual([
    expect.objectContaining({ '@type': TypeUrl.Cluster, name: 'a', type: 'EDS' }),
    expect.objectContaining({ '@type': TypeUrl.Cluster, name: 'b' }),
  ]);
});

test('a delta response carries name, version and resource, and the removed names', () => {
  const a = cache.encode(TypeUrl.Cluster, 'a', edsCluster('a'));
  const r = decodeDeltaResponse(encodeDeltaResponse({ systemVersionInfo: 's1', typeUrl: TypeUrl.Cluster, nonce: 'n2', resources: [a], removed: ['x', 'y'] }));
  expect(r).toMatchObject({ system_version_info: 's1', type_url: TypeUrl.Cluster, nonce: 'n2', removed_resources: ['x', 'y'] });
  expect(r.resources[0]).toMatchObject({ name: 'a', version: a.version });
  expect(unpackAny(r.resources[0].resource ?? {})).toMatchObject({ name: 'a' });
});

test('large resources and non-ASCII strings: lengths of several varint bytes encode exactly', () => {
  // A cluster name of ~300 KB (a 3-byte length) and names outside ASCII.
  const big = cache.encode(TypeUrl.Cluster, 'big', edsCluster('x'.repeat(300_000)));
  const small = cache.encode(TypeUrl.Cluster, 'é', edsCluster('é'));
  const version = 'v-ü'.repeat(50);
  const sotw = decodeSotwResponse(encodeSotwResponse({ versionInfo: version, typeUrl: TypeUrl.Cluster, nonce: 'ñ', resources: [big, small], controlPlane: 'trellis-ø' }));
  expect(sotw).toMatchObject({ version_info: version, nonce: 'ñ', control_plane: { identifier: 'trellis-ø' } });
  expect(sotw.resources.map((x) => (unpackAny(x) as { name: string }).name)).toEqual(['x'.repeat(300_000), 'é']);
  const delta = decodeDeltaResponse(encodeDeltaResponse({ systemVersionInfo: '', typeUrl: TypeUrl.Cluster, nonce: '', resources: [big], removed: ['ü'.repeat(200)] }));
  expect(delta.removed_resources).toEqual(['ü'.repeat(200)]);
  expect(delta.resources[0]).toMatchObject({ name: 'big', version: big.version });
});

test('equal content is encoded once and shared; the same object is not re-encoded', () => {
  const c = new ResourceCache();
  const obj = edsCluster('s');
  const first = c.encode(TypeUrl.Cluster, 's', obj);
  expect(c.encode(TypeUrl.Cluster, 's', obj)).toBe(first);
  expect(c.encode(TypeUrl.Cluster, 's', edsCluster('s'))).toBe(first);
  expect(c.encode(TypeUrl.Cluster, 's', { ...edsCluster('s'), connect_timeout: { seconds: 2 } })).not.toBe(first);
});

test('a message that does not fit its type is refused', () => {
  expect(() => cache.encode(TypeUrl.Cluster, 'x', { name: 'x', connect_timeout: 'soon' } as never)).toThrow(/connect_timeout/);
});

test('requests decode the same with the node left encoded until read (sotw and delta)', () => {
  const node = { id: 'sidecar~10.0.0.1~a.default~default.svc.cluster.local', cluster: 'c', user_agent_name: 'envoy', metadata: { fields: { NAMESPACE: { stringValue: 'default' } } }, extensions: [{ name: 'envoy.filters.http.router', category: 'envoy.filters.http' }] };
  const sotw = { version_info: 'v1', node, resource_names: ['a', 'b'], type_url: TypeUrl.Route, response_nonce: 'n1', error_detail: { code: 3, message: 'bad' } };
  const full = decodeMessage<Record<string, unknown>>('envoy.service.discovery.v3.DiscoveryRequest', encodeSotwRequest(sotw));
  const lazy = decodeSotwRequest(encodeSotwRequest(sotw));
  expect(lazy.resource_names).toEqual(['a', 'b']);
  expect(lazy.error_detail).toMatchObject({ code: 3, message: 'bad' });
  expect(lazy.node).toMatchObject({ id: node.id, cluster: 'c', extensions: [expect.objectContaining({ name: 'envoy.filters.http.router' })] });
  expect({ ...lazy }).toEqual(full);

  const delta = { node, type_url: TypeUrl.Endpoint, resource_names_subscribe: ['x'], resource_names_unsubscribe: ['y'], initial_resource_versions: { x: '1' }, response_nonce: 'n2' };
  const fullDelta = decodeMessage<Record<string, unknown>>('envoy.service.discovery.v3.DeltaDiscoveryRequest', encodeDeltaRequest(delta));
  const lazyDelta = decodeDeltaRequest(encodeDeltaRequest(delta));
  expect(lazyDelta.node?.id).toBe(node.id);
  expect({ ...lazyDelta }).toEqual(fullDelta);
  // Without a node (Envoy's later requests on state of the world) nothing changes.
  expect(decodeSotwRequest(encodeSotwRequest({ ...sotw, node: undefined })).node).toBeNull();
});

test('a set version ignores order and changes with any member: content, name, or one more or fewer', () => {
  const a = cache.encode(TypeUrl.Cluster, 'a', edsCluster('a'));
  const b = cache.encode(TypeUrl.Cluster, 'b', edsCluster('b'));
  const b2 = cache.encode(TypeUrl.Cluster, 'b', { ...edsCluster('b'), connect_timeout: { seconds: 5 } });
  const c = cache.encode(TypeUrl.Cluster, 'c', edsCluster('b'));
  expect(setVersion([a, b])).toBe(setVersion([b, a]));
  const others = [setVersion([a, b2]), setVersion([a, c]), setVersion([a]), setVersion([a, b, c]), setVersion([])];
  expect(new Set([setVersion([a, b]), ...others]).size).toBe(others.length + 1);
});

describe('SotW resource_names shared between requests of the same bytes', () => {
  const names = (n: number, tagged = '') => Array.from({ length: n }, (_, i) => `outbound|80||svc-${i}${tagged}.ns.svc.cluster.local`);
  const request = (list: string[], nonce: string, withNode = true) => encodeSotwRequest({ type_url: TypeUrl.Endpoint, version_info: 'v1', response_nonce: nonce, resource_names: list, ...(withNode ? { node: { id: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local' } } : {}) });
  const full = (b: Buffer) => decodeMessage<{ resource_names: string[] }>('envoy.service.discovery.v3.DiscoveryRequest', b);

  test('two ACKs of one long list get the same frozen array, equal to a full decode; the other fields are their own', () => {
    const a = decodeSotwRequest(request(names(50), 'n1'));
    const b = decodeSotwRequest(request(names(50), 'n2', false));
    expect(b.resource_names).toBe(a.resource_names);
    expect(Object.isFrozen(a.resource_names)).toBe(true);
    expect(a.resource_names).toEqual(full(request(names(50), 'n1')).resource_names);
    expect([a.response_nonce, b.response_nonce]).toEqual(['n1', 'n2']);
    expect(a.node?.id).toBe('sidecar~10.0.0.1~a.ns~ns.svc.cluster.local');
    expect(b.type_url).toBe(TypeUrl.Endpoint);
  });

  test('another list, a short list, or names split around other fields decode as themselves', () => {
    const a = decodeSotwRequest(request(names(50), 'n1'));
    const other = decodeSotwRequest(request(names(50, '-x'), 'n1'));
    expect(other.resource_names).not.toBe(a.resource_names);
    expect(other.resource_names).toEqual(names(50, '-x'));
    const short = ['a', 'b'];
    expect(decodeSotwRequest(request(short, 'n3')).resource_names).toEqual(short);
    // resource_names (3) before and after type_url (4): legal protobuf, decoded in full.
    const first = encodeSotwRequest({ resource_names: names(25) });
    const middle = encodeSotwRequest({ type_url: TypeUrl.Endpoint });
    const last = encodeSotwRequest({ resource_names: names(50).slice(25) });
    const split = decodeSotwRequest(Buffer.concat([first, middle, last]));
    expect(split.resource_names).toEqual(names(50));
    expect(split.type_url).toBe(TypeUrl.Endpoint);
  });

  test('a list that differs only where the lookup does not look is decoded, not taken for the other', () => {
    const a = encodeSotwRequest({ resource_names: names(50, '-y') });
    const n = a.length;
    const sampled = new Set(Array.from({ length: 16 }, (_, i) => Math.floor((n * i) / 16)));
    let at = Math.floor(n / 3);
    while (sampled.has(at) || a[at] !== 's'.charCodeAt(0)) at++; // the s of a "svc-"
    const b = Buffer.from(a);
    b[at] = 't'.charCodeAt(0);
    const typeUrl = encodeSotwRequest({ type_url: TypeUrl.Endpoint });
    const first = decodeSotwRequest(Buffer.concat([a, typeUrl]));
    const second = decodeSotwRequest(Buffer.concat([b, typeUrl]));
    expect(second.resource_names).not.toEqual(first.resource_names);
    expect(second.resource_names).toEqual(full(b).resource_names);
  });
});
