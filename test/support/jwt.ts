// JSON Web Tokens for tests, with node:crypto alone: an issuer's key pair, its public keys as a
// JWKS, and compact RS256 / ES256 tokens signed with its private key.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';

export interface Issuer {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  /** The public key set, as a JWKS document. */
  readonly jwks: string;
  sign(claims: Record<string, unknown>): string;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

export function makeIssuer(alg: 'RS256' | 'ES256' = 'RS256', kid = `key-${crypto.randomUUID().slice(0, 8)}`): Issuer {
  const { privateKey, publicKey } = alg === 'RS256' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    jwks: JSON.stringify({ keys: [jwk] }),
    sign(claims) {
      const input = `${b64({ alg, typ: 'JWT', kid })}.${b64(claims)}`;
      // JWS wants ES256 signatures as r||s (IEEE P1363), not DER.
      const signature = crypto.sign('sha256', Buffer.from(input), alg === 'RS256' ? privateKey : { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${input}.${signature.toString('base64url')}`;
    },
  };
}

/** Seconds since the epoch, `offset` seconds from now. */
export const epoch = (offset = 0): number => Math.floor(Date.now() / 1000) + offset;

/** A loopback HTTP server whose answer for each path the test sets (and can change). */
export interface KeyServer {
  readonly url: (path: string) => string;
  /** Sets the answer of a path: a body (200), a status, body and headers, or 'hang' (never answers). */
  set(path: string, answer: Answer): void;
  readonly hits: (path: string) => number;
  close(): Promise<void>;
}

type Answer = string | { status: number; body: string; headers?: Record<string, string> } | 'hang';

/** Over https when given a certificate and key. */
export async function startKeyServer(host = '127.0.0.1', tls?: { cert: string; key: string }): Promise<KeyServer> {
  const answers = new Map<string, Answer>();
  const hits = new Map<string, number>();
  const hanging = new Set<http.ServerResponse>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const a = answers.get(path);
    if (a === 'hang') {
      hanging.add(res);
      return;
    }
    const { status, body, headers = {} } = a === undefined ? { status: 404, body: 'no such key set' } : typeof a === 'string' ? { status: 200, body: a } : a;
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: (path) => `${tls ? 'https' : 'http'}://${host}:${port}${path}`,
    set: (path, answer) => answers.set(path, answer),
    hits: (path) => hits.get(path) ?? 0,
    close: () =>
      new Promise((r) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
