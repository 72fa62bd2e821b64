// The certificate service end to end: the real CA behind gRPC over TLS, real tokens from the
// API server's TokenRequest API and real TokenReviews, the client the sidecar agent uses.
// A workload gets a certificate for its own service account and nothing else.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { MeshCa } from '../../src/ca/authority.js';
import { createCsr, requestCertificate, spiffeId } from '../../src/ca/certificate-client.js';
import { addCertificateService } from '../../src/ca/certificate-service.js';
import { TokenAuthenticator } from '../../src/ca/token-review.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { registry } from '../../src/util/metrics.js';
import { clusterAvailable, kube, testNamespace } from '../support/cluster.js';
import { createServiceAccount, rest, serviceAccountToken } from '../support/tokens.js';

setLogLevel('error');
const ns = testNamespace('ca-grpc');
const { core } = kube();
const SERVER_NAME = 'trellis.trellis-system.svc';
const TD = 'cluster.local';

let ca: MeshCa;
let server: grpc.Server;
let address: string;

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await createServiceAccount(ns, 'alice');
  await createServiceAccount(ns, 'bob');
  ca = await MeshCa.create({ trustDomain: TD });
  const serving = await ca.issueServing([SERVER_NAME], 1);
  server = new grpc.Server();
  addCertificateService(server, { ca, tokens: TokenAuthenticator.forApiServer(rest()), trustDomain: TD, log: loggerFor('ca') });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.cert), private_key: Buffer.from(serving.key) }], false);
  address = `127.0.0.1:${await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))))}`;
});
afterAll(async () => {
  server?.forceShutdown();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

const id = (sa: string): string => spiffeId({ trustDomain: TD, namespace: ns, serviceAccount: sa });
const ask = (token: string, sa: string): Promise<string[]> => requestCertificate({ address, rootCaPem: ca.rootPem, serverName: SERVER_NAME, token, csrPem: createCsr(id(sa)).csrPem, timeoutMs: 10_000 });

async function status(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeDefined();
  return err as grpc.ServiceError;
}

test('alice\'s token (audience istio-ca) gets a certificate for alice, chained to the mesh root', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  const chain = await ask(token, 'alice');
  expect(chain).toHaveLength(2);
  const [leaf, root] = chain.map((c) => new X509Certificate(c));
  expect(leaf.subjectAltName).toBe(`URI:${id('alice')}`);
  expect(leaf.checkIssued(root)).toBe(true);
  expect(leaf.verify(root.publicKey)).toBe(true);
  expect(chain[1]).toBe(ca.rootPem);
  expect(Math.round((new Date(leaf.validTo).getTime() - Date.now()) / 3_600_000)).toBe(24);
});

test('attack: alice\'s token asking for bob\'s certificate is PERMISSION_DENIED', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  const err = await status(ask(token, 'bob'));
  expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
  expect(err.details).toBe(`the CSR asks for ${id('bob')} but the caller is ${id('alice')}`);
});

test('attack: no token is UNAUTHENTICATED', async () => {
  const err = await status(ask('', 'alice'));
  expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
});

test('attack: alice\'s token for another audience (the Kubernetes API) is UNAUTHENTICATED', async () => {
  const token = await serviceAccountToken(ns, 'alice');
  const err = await status(ask(token, 'alice'));
  expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(err.details).toMatch(/not accepted by the API server|not for audience istio-ca/);
});

test('attack: a token for a namespace\'s service account cannot get another namespace\'s identity', async () => {
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  const csrPem = createCsr(spiffeId({ trustDomain: TD, namespace: 'kube-system', serviceAccount: 'alice' })).csrPem;
  const err = await status(requestCertificate({ address, rootCaPem: ca.rootPem, serverName: SERVER_NAME, token, csrPem, timeoutMs: 10_000 }));
  expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
});

test('each answer and each TokenReview is timed on /metrics, by result', async () => {
  const count = async (metric: string, label: string): Promise<number> => {
    const m = await registry.getSingleMetric(metric)!.get();
    const values = m.values as { metricName?: string; labels: Record<string, string | number>; value: number }[];
    return values.find((v) => v.metricName === `${metric}_count` && Object.values(v.labels).includes(label))?.value ?? 0;
  };
  const before = { signed: await count('trellis_ca_request_duration_seconds', 'signed'), denied: await count('trellis_ca_request_duration_seconds', 'denied'), reviews: await count('trellis_token_review_duration_seconds', 'answered') };
  const token = await serviceAccountToken(ns, 'alice', { audiences: ['istio-ca'] });
  await ask(token, 'alice');
  await status(ask(token, 'bob'));
  expect(await count('trellis_ca_request_duration_seconds', 'signed')).toBe(before.signed + 1);
  expect(await count('trellis_ca_request_duration_seconds', 'denied')).toBe(before.denied + 1);
  // One review: the second request's token was cached.
  expect(await count('trellis_token_review_duration_seconds', 'answered')).toBe(before.reviews + 1);
});
