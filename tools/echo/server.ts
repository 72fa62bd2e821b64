// The echo app the devcluster runs for the image trellis/echo. It answers every request with
// JSON describing the pod and the request, and obeys a few headers so tests can provoke
// delays, errors and failures that clear after N tries.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { parseDurationMs } from '../../src/util/duration.js';
import { parseDownwardApiLabels } from '../../src/sidecar/downward-api.js';
import { startGrpcEcho } from './grpc-echo.js';

const ports = (process.env.ECHO_PORTS ?? process.env.PORT ?? '8080')
  .split(',')
  .map((p) => Number(p.trim()))
  .filter((p) => Number.isInteger(p) && p > 0);
const labelsFile = process.env.ECHO_LABELS_FILE ?? '/etc/podinfo/labels';
// ECHO_ADDRESS: where the HTTP ports listen; 127.0.0.1 for an app reached only through its sidecar.
const address = process.env.ECHO_ADDRESS || '0.0.0.0';
const failures = new Map<string, number>();

function podLabels(): Record<string, string> {
  try {
    return parseDownwardApiLabels(fs.readFileSync(labelsFile, 'utf8'));
  } catch {
    return {};
  }
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

interface AdmissionReview {
  apiVersion?: string;
  request?: { uid?: string; object?: { metadata?: { labels?: Record<string, string> } } };
}

// POST /admission answers an AdmissionReview, so tests can prove the API server reaches a
// webhook served by a pod: objects labelled echo-deny=<reason> are denied, naming this pod.
function admission(body: string, res: http.ServerResponse): void {
  let review: AdmissionReview;
  try {
    review = JSON.parse(body) as AdmissionReview;
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('body is not an AdmissionReview\n');
    return;
  }
  const deny = review.request?.object?.metadata?.labels?.['echo-deny'];
  const pod = process.env.POD_NAME ?? os.hostname();
  const response = {
    uid: review.request?.uid ?? '',
    allowed: deny === undefined,
    status: deny === undefined ? undefined : { code: 403, message: `denied by ${pod}: ${deny}` },
  };
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
}

function handle(port: number, req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'POST' && req.url?.split('?')[0] === '/admission') {
      admission(Buffer.concat(chunks).toString('utf8'), res);
      return;
    }
    let status = 200;
    const wanted = header(req, 'x-echo-status');
    if (wanted && /^[1-5]\d\d$/.test(wanted)) status = Number(wanted);
    const failFirst = Number(header(req, 'x-echo-fail-first') ?? '0');
    if (failFirst > 0) {
      const key = header(req, 'x-echo-key') ?? '';
      const seen = failures.get(key) ?? 0;
      failures.set(key, seen + 1);
      if (seen < failFirst) status = 503;
    }
    const body = JSON.stringify({
      pod: process.env.POD_NAME ?? os.hostname(),
      namespace: process.env.POD_NAMESPACE ?? '',
      labels: podLabels(),
      ip: req.socket.localAddress,
      port,
      method: req.method,
      path: req.url,
      host: req.headers.host ?? '',
      headers: req.headers,
      remote: req.socket.remoteAddress,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    const delay = parseDurationMs(header(req, 'x-echo-delay') ?? '') ?? 0;
    setTimeout(() => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-echo-pod': process.env.POD_NAME ?? os.hostname() });
      res.end(body + '\n');
    }, delay);
  });
}

const servers: (http.Server | https.Server)[] = ports.map((port) => {
  const server = http.createServer((req, res) => handle(port, req, res));
  server.keepAliveTimeout = 65_000;
  server.listen(port, address, () => process.stdout.write(`echo listening on ${address}:${port}\n`));
  return server;
});

// ECHO_TLS_PORT with ECHO_TLS_CERT and ECHO_TLS_KEY (PEM files) adds an HTTPS listener.
const tlsPort = Number(process.env.ECHO_TLS_PORT ?? 0);
if (tlsPort > 0) {
  const server = https.createServer(
    { cert: fs.readFileSync(process.env.ECHO_TLS_CERT ?? ''), key: fs.readFileSync(process.env.ECHO_TLS_KEY ?? '') },
    (req, res) => handle(tlsPort, req, res),
  );
  server.listen(tlsPort, '0.0.0.0', () => process.stdout.write(`echo listening on :${tlsPort} (TLS)\n`));
  servers.push(server);
}

// gRPC on ECHO_GRPC_PORT (default 7070, as Istio's echo app; 0 turns it off).
const grpcPort = Number(process.env.ECHO_GRPC_PORT ?? 7070);
const grpcServer =
  grpcPort > 0
    ? startGrpcEcho(grpcPort, () => ({ pod: process.env.POD_NAME ?? os.hostname(), namespace: process.env.POD_NAMESPACE ?? '', labels: podLabels() })).then((s) => {
        process.stdout.write(`echo listening on :${grpcPort} (gRPC)\n`);
        return s;
      })
    : undefined;

function stop(): void {
  for (const s of servers) s.close();
  void grpcServer?.then((s) => s.forceShutdown());
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
