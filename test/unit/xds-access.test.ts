// Who may hold an xDS stream, and what the debug dump shows: the identity binding refuses a node
// that claims another namespace, service account or pod; the plaintext port never carries an
// identity (so never a Secret); a dump never shows a private key.
import * as grpc from '@grpc/grpc-js';
import { AccessDenied, admit, bindIdentity } from '../../src/xds/access.js';
import { configDump, REDACTED } from '../../src/xds/config-dump.js';
import { parseNode } from '../../src/xds/proxy-info.js';
import { TypeUrl, type Secret } from '../../src/xds/types.js';
import { certificateIdentity, xdsAuthenticator } from '../../src/ca/xds-authenticator.js';
import { parseSpiffeId } from '../../src/api/mesh-identity.js';
import { Unauthenticated } from '../../src/ca/token-review.js';

const gateway = parseNode({
  id: 'router~10.244.0.7~ingress-0.trellis-system~trellis-system.svc.cluster.local',
  metadata: { fields: { NAMESPACE: { kind: 'stringValue', stringValue: 'trellis-system' }, SERVICE_ACCOUNT: { kind: 'stringValue', stringValue: 'trellis-ingressgateway' } } },
} as never);
const caller = { metadata: new grpc.Metadata(), peerCertificate: undefined };

describe('binding a stream to the caller', () => {
  test('the identity of the node itself is accepted and recorded', () => {
    const bound = bindIdentity(gateway, { namespace: 'trellis-system', serviceAccount: 'trellis-ingressgateway', podName: 'ingress-0', via: 'token' });
    expect(bound.identity).toEqual({ namespace: 'trellis-system', serviceAccount: 'trellis-ingressgateway' });
  });

  test.each([
    [{ namespace: 'evil', serviceAccount: 'trellis-ingressgateway' }, 'claims namespace "trellis-system" but authenticated as service account evil/trellis-ingressgateway'],
    [{ namespace: 'trellis-system', serviceAccount: 'default' }, 'claims service account "trellis-ingressgateway" but authenticated as trellis-system/default'],
    [{ namespace: 'trellis-system', serviceAccount: 'trellis-ingressgateway', podName: 'other-pod' }, 'claims pod "ingress-0" but its token is bound to pod other-pod'],
  ])('posing as another workload is refused: %j', (id, message) => {
    let err: unknown;
    try {
      bindIdentity(gateway, { ...id, via: 'token' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AccessDenied);
    expect((err as AccessDenied).code).toBe(grpc.status.PERMISSION_DENIED);
    expect((err as Error).message).toContain(message);
  });

  test("a node id naming another namespace's or another pod's proxy is refused, whatever the metadata says", () => {
    const evil = { namespace: 'evil', serviceAccount: 'attacker', via: 'certificate' };
    const meta = (ns: string, name?: string) => ({ fields: { NAMESPACE: { kind: 'stringValue', stringValue: ns }, ...(name ? { NAME: { kind: 'stringValue', stringValue: name } } : {}) } });
    const victimId = 'router~10.244.0.7~ingress-0.trellis-system~trellis-system.svc.cluster.local';
    expect(() => bindIdentity(parseNode({ id: victimId, metadata: meta('evil') } as never), evil)).toThrow('names pod "ingress-0" in namespace "trellis-system"');
    const sameNs = { namespace: 'trellis-system', serviceAccount: 'trellis-ingressgateway', via: 'token', podName: 'mine' };
    expect(() => bindIdentity(parseNode({ id: victimId, metadata: meta('trellis-system', 'mine') } as never), sameNs)).toThrow('not the node\'s own pod "mine"');
    expect(bindIdentity(parseNode({ id: 'router~10.244.0.8~mine.trellis-system~trellis-system.svc.cluster.local', metadata: meta('trellis-system', 'mine') } as never), sameNs).identity).toBeDefined();
  });

  test('the plaintext port drops any identity (so no Secret is ever computed for it)', async () => {
    expect((await admit({ kind: 'plaintext' }, { ...gateway, identity: { namespace: 'trellis-system', serviceAccount: 'x' } }, caller)).identity).toBeUndefined();
  });

  test('the authenticated port: no credentials is UNAUTHENTICATED; a refused token too', async () => {
    const tokens = { authenticate: (): Promise<never> => Promise.reject(new Unauthenticated('the token is not valid')) };
    const access = { kind: 'authenticated' as const, authenticate: xdsAuthenticator(tokens, 'cluster.local') };
    await expect(admit(access, gateway, caller)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer abc');
    await expect(admit(access, gateway, { metadata: md, peerCertificate: undefined })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, message: expect.stringContaining('the token is not valid') });
  });

  test('SPIFFE IDs: only the trust domain, namespace and service account form', () => {
    expect(parseSpiffeId('spiffe://cluster.local/ns/a/sa/b', 'cluster.local')).toEqual({ namespace: 'a', serviceAccount: 'b' });
    expect(parseSpiffeId('spiffe://other.org/ns/a/sa/b', 'cluster.local')).toBeUndefined();
    expect(parseSpiffeId('spiffe://cluster.local/ns/a/sa/b/extra', 'cluster.local')).toBeUndefined();
    expect(certificateIdentity(Buffer.from('not a certificate'), 'cluster.local')).toBeUndefined();
  });
});

test('a config dump never shows a private key', () => {
  const secret: Secret = { name: 'kubernetes://cred', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('CERT') }, private_key: { inline_bytes: Buffer.from('-----BEGIN PRIVATE KEY-----') } } };
  const dump = configDump({ [TypeUrl.Secret]: new Map([[secret.name!, secret]]) });
  const text = JSON.stringify(dump);
  expect(text).not.toContain(Buffer.from('-----BEGIN PRIVATE KEY-----').toString('base64'));
  expect((dump.sds['kubernetes://cred'] as { tls_certificate: { private_key: unknown } }).tls_certificate.private_key).toBe(REDACTED);
});
