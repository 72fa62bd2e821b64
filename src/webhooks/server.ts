// The HTTPS admission server (port 15017): POST /validate, and later /inject. Its certificate
// can be swapped at run time (rotation) without dropping connections.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter } from 'prom-client';
import type { Logger } from '../util/logger.js';
import { registry } from '../util/metrics.js';
import { BadReview, parseReview, reviewResponse, type AdmissionRequest, type AdmissionResponse } from './admission.js';
import type { KeyPairPem } from './certs.js';

export type AdmissionHandler = (req: AdmissionRequest) => AdmissionResponse | Promise<AdmissionResponse>;

export const webhookRequests = new Counter({
  name: 'trellis_webhook_requests_total',
  help: 'Admission requests by webhook path and outcome (allowed, denied, bad_request, error).',
  labelNames: ['path', 'outcome'] as const,
  registers: [registry],
});

const MAX_BODY = 8 * 1024 * 1024;

export interface AdmissionServer {
  readonly port: number;
  setCertificate(pair: KeyPairPem): void;
  close(): Promise<void>;
}

export type Outcome = 'allowed' | 'denied' | 'bad_request' | 'error';

export async function startAdmissionServer(opts: {
  host: string;
  port: number;
  certificate: KeyPairPem;
  handlers: Record<string, AdmissionHandler>;
  log: Logger;
  /** Counts a request (default: trellis_webhook_requests_total of this thread's registry). */
  count?: (path: string, outcome: Outcome) => void;
}): Promise<AdmissionServer> {
  const count = opts.count ?? ((path: string, outcome: Outcome) => webhookRequests.inc({ path, outcome }));
  const server = https.createServer({ cert: opts.certificate.cert, key: opts.certificate.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handler = opts.handlers[path];
    const reply = (status: number, body: string, type = 'application/json'): void => {
      res.writeHead(status, { 'content-type': type }).end(body);
    };
    if (!handler) return reply(404, `no webhook at ${path}\n`, 'text/plain');
    if (req.method !== 'POST') return reply(405, 'admission webhooks take POST\n', 'text/plain');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let review;
      try {
        review = parseReview(Buffer.concat(chunks).toString('utf8'));
      } catch (err) {
        count(path, 'bad_request');
        if (err instanceof BadReview) return reply(400, `bad AdmissionReview: ${err.message}\n`, 'text/plain');
        throw err;
      }
      Promise.resolve()
        .then(() => handler(review.request))
        .then((response) => {
          count(path, response.allowed ? 'allowed' : 'denied');
          reply(200, JSON.stringify(reviewResponse(review, response)));
        })
        .catch((err: unknown) => {
          count(path, 'error');
          opts.log.error('admission handler failed', { path, uid: review.request.uid, error: err instanceof Error ? err.stack : String(err) });
          reply(200, JSON.stringify(reviewResponse(review, { uid: review.request.uid, allowed: false, status: { code: 500, message: `trellis: internal error: ${String(err)}` } })));
        });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info('admission server listening', { address: `${opts.host}:${port}`, paths: Object.keys(opts.handlers) });
  return {
    port,
    setCertificate: (pair) => server.setSecureContext({ cert: pair.cert, key: pair.key }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
