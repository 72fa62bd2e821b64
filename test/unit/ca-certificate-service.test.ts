// IstioCertificateService over TLS on loopback, with the real CA and client and a stand-in for
// the API server's TokenReview: a workload gets a certificate for itself only, every refusal
// carries its gRPC status and reason, is counted, and is logged without the token.
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import winston from 'winston';
import { MeshCa } from '../../src/ca/authority.js';
import { createCsr, requestCertificate } from '../../src/ca/certificate-client.js';
import { CREATE_CERTIFICATE_PATH, decodeResponse, encodeRequest, type CertificateRequest, type CertificateResponse } from '../../src/ca/certificate-proto.js';
import { addCertificateService, caRequests } from '../../src/ca/certificate-service.js';
import { TokenAuthenticator, type TokenReviewStatus } from '../../src/ca/token-review.js';

const SERVER_NAME = 'trellis.trellis-system.svc';
const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice';
const BOB = 'spiffe://cluster.local/ns/shop/sa/bob';
// Tokens the stand-in API server knows. The secret part must never reach a log line.
const TOKENS: Record<string, TokenReviewStatus> = {
  'alice-secret-token': { authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:shop:alice', extra: { 'authentication.kubernetes.io/pod-name': ['web-1'] } } },
  'alice-kube-audience-secret': { authenticated: false, error: 'token audiences ["https://kubernetes.default.svc"] is invalid for the target audiences ["istio-ca"]' },
};

const logLines: string[] = [];
const log = winston.createLogger({
  level: 'debug',
  format: winston.format.json(),
  transports: [new winston.transports.Stream({ stream: new Writable({ write: (chunk: Buffer, _e, cb) => (logLines.push(chunk.toString()), cb()) }) })],
});

let ca: MeshCa;
let server: grpc.Server;
let address: string;
let apiDown = false;

beforeAll(async () => {
  ca = await MeshCa.create({ trustDomain: 'cluster.local' });
  const serving = await ca.issueServing([SERVER_NAME], 1);
  const tokens = new TokenAuthenticator(async (token) => {
    if (apiDown) throw new Error('connect ECONNREFUSED 10.0.0.1:443');
    return TOKENS[token] ?? { authenticated: false, error: 'invalid bearer token' };
  }, { failureCacheSeconds: 0 });
  server = new grpc.Server();
  addCertificateService(server, { ca, tokens, trustDomain: 'cluster.local', defaultTtlSeconds: 86_400, maxTtlSeconds: 7 * 86_400, log });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.cert), private_key: Buffer.from(serving.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  address = `127.0.0.1:${port}`;
});
afterAll(() => server.forceShutdown());

const ask = (token: string, spiffe: string, ttlSeconds = 0, rootCaPem = ca.rootPem, serverName = SERVER_NAME): Promise<string[]> =>
  requestCertificate({ address, rootCaPem, serverName, token, csrPem: createCsr(spiffe).csrPem, ttlSeconds, timeoutMs: 5000 });

async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeDefined();
  return err as grpc.ServiceError;
}

async function counted(result: string): Promise<number> {
  return (await caRequests.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

test('a workload gets a certificate for its own identity: leaf first, root last, default lifetime', async () => {
  const before = await counted('signed');
  const chain = await ask('alice-secret-token', ALICE);
  expect(chain).toHaveLength(2);
  expect(chain[1]).toBe(ca.rootPem);
  const leaf = new X509Certificate(chain[0]);
  expect(leaf.subjectAltName).toBe(`URI:${ALICE}`);
  expect(leaf.verify(new X509Certificate(ca.rootPem).publicKey)).toBe(true);
  expect(Math.round((new Date(leaf.validTo).getTime() - Date.now()) / 3_600_000)).toBe(24);
  expect(await counted('signed')).toBe(before + 1);
});

test('the lifetime asked for is granted up to the maximum', async () => {
  const hour = new X509Certificate((await ask('alice-secret-token', ALICE, 3600))[0]);
  expect(Math.round((new Date(hour.validTo).getTime() - Date.now()) / 60_000)).toBe(60);
  const year = new X509Certificate((await ask('alice-secret-token', ALICE, 365 * 86_400))[0]);
  expect(Math.round((new Date(year.validTo).getTime() - Date.now()) / 86_400_000)).toBe(7);
});

test('attack: alice\'s token asking for bob\'s identity is PERMISSION_DENIED, with the reason', async () => {
  const before = await counted('denied');
  const err = await grpcError(ask('alice-secret-token', BOB));
  expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
  expect(err.details).toBe(`the CSR asks for ${BOB} but the caller is ${ALICE}`);
  expect(await counted('denied')).toBe(before + 1);
});

test('attack: no token is UNAUTHENTICATED', async () => {
  const client = new grpc.Client(address, grpc.credentials.createSsl(Buffer.from(ca.rootPem)), { 'grpc.ssl_target_name_override': SERVER_NAME });
  const before = await counted('unauthenticated');
  const err = await grpcError(
    new Promise((resolve, reject) =>
      client.makeUnaryRequest<CertificateRequest, CertificateResponse>(CREATE_CERTIFICATE_PATH, encodeRequest, decodeResponse, { csr: createCsr(ALICE).csrPem, validityDuration: 0 }, new grpc.Metadata(), (e, r) => (e ? reject(e) : resolve(r))),
    ),
  );
  client.close();
  expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(err.details).toMatch(/no "authorization: Bearer <token>" metadata/);
  expect(await counted('unauthenticated')).toBe(before + 1);
});

test('attack: a forged token, or one for another audience, is UNAUTHENTICATED', async () => {
  const forged = await grpcError(ask('forged-secret-token', ALICE));
  expect(forged.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(forged.details).toMatch(/not accepted by the API server: invalid bearer token/);
  const audience = await grpcError(ask('alice-kube-audience-secret', ALICE));
  expect(audience.code).toBe(grpc.status.UNAUTHENTICATED);
  expect(audience.details).toMatch(/audiences/);
});

test('a malformed CSR is INVALID_ARGUMENT', async () => {
  const before = await counted('invalid');
  const err = await grpcError(requestCertificate({ address, rootCaPem: ca.rootPem, serverName: SERVER_NAME, token: 'alice-secret-token', csrPem: 'not a csr', timeoutMs: 5000 }));
  expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(err.details).toMatch(/not a PEM "CERTIFICATE REQUEST"/);
  expect(await counted('invalid')).toBe(before + 1);
});

test('an API server that cannot answer is UNAVAILABLE (retry), counted as an error', async () => {
  const before = await counted('error');
  apiDown = true;
  try {
    const err = await grpcError(ask('alice-other-secret-token', ALICE));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  } finally {
    apiDown = false;
  }
  expect(await counted('error')).toBe(before + 1);
});

test('attack: the client does not talk to a server its mesh root does not vouch for', async () => {
  const impostorRoot = (await MeshCa.create({ trustDomain: 'cluster.local' })).rootPem;
  const err = await grpcError(ask('alice-secret-token', ALICE, 0, impostorRoot));
  expect(err.code).toBe(grpc.status.UNAVAILABLE);
  const wrongName = await grpcError(ask('alice-secret-token', ALICE, 0, ca.rootPem, 'evil.example'));
  expect(wrongName.code).toBe(grpc.status.UNAVAILABLE);
});

test('refusals are logged with their reason, and no log line holds a token', () => {
  const refusals = logLines.filter((l) => l.includes('certificate request refused'));
  expect(refusals.length).toBeGreaterThanOrEqual(4);
  expect(refusals.some((l) => l.includes('"result":"denied"') && l.includes('"serviceAccount":"alice"') && l.includes('"pod":"web-1"'))).toBe(true);
  expect(logLines.join('\n')).not.toMatch(/secret/);
});
