// A load generator's CreateCertificate: one TLS connection, one HTTP/2 stream carrying one gRPC
// message, the connection closed after the answer. The control plane sees exactly what an
// agent's call gives it (a new TLS handshake, an HTTP/2 session, a gRPC call with the token and
// the CSR); the caller spends a fraction of grpc-js's channel machinery, so on a machine where
// the clients share the control plane's cores the benchmark measures the CA, not its clients.
// Benchmarks only: the agent itself uses grpc-js (src/ca/certificate-client.ts).
import http2 from 'node:http2';
import type tls from 'node:tls';
import { CREATE_CERTIFICATE_PATH, decodeResponse, encodeRequest } from '../src/ca/certificate-proto.js';

export interface H2CertificateCall {
  /** host:port */
  address: string;
  /** A context holding the mesh root, made once (tls.createSecureContext({ ca })). */
  secureContext: tls.SecureContext;
  serverName: string;
  token: string;
  csrPem: string;
}

/** Resolves with the chain's length; rejects with the gRPC status and message on a refusal. */
export function createCertificateOverH2(c: H2CertificateCall): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${c.address}`, { secureContext: c.secureContext, servername: c.serverName });
    const fail = (err: Error): void => {
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    const message = encodeRequest({ csr: c.csrPem, validityDuration: 0 });
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    const stream = session.request({
      ':method': 'POST',
      ':path': CREATE_CERTIFICATE_PATH,
      ':authority': c.serverName,
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: `Bearer ${c.token}`,
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let details = '';
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']); // trailers-only
      details = String(headers['grpc-message'] ?? '');
    });
    stream.on('trailers', (trailers) => {
      status = String(trailers['grpc-status']);
      details = String(trailers['grpc-message'] ?? '');
    });
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('error', fail);
    stream.on('end', () => {
      session.close();
      if (status !== '0') return reject(new Error(`grpc-status ${status ?? 'missing'}: ${decodeURIComponent(details)}`));
      const body = Buffer.concat(chunks);
      if (body.length < 5) return reject(new Error('no response message'));
      const chain = decodeResponse(body.subarray(5, 5 + body.readUInt32BE(1))).certChain;
      if (chain.length === 0) return reject(new Error('the CA answered without a certificate'));
      resolve(chain.length);
    });
    stream.end(frame);
  });
}
