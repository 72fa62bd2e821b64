// A small HTTP client carried by the echo image, so `devcluster exec ns/pod -- echo-client ...`
// can send requests from inside a pod. Prints one JSON line per request.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';
import { grpcEchoOnce } from './grpc-echo.js';

const USAGE = `usage: echo-client URL|grpc://HOST:PORT [-n COUNT] [--keepalive] [--cacert CA.pem [--cert C --key K]] [-H 'name: value']... [-X METHOD] [--timeout 5s]
Sends COUNT requests (default 1) one after another and prints one JSON line each
(https://: verified against --cacert, SNI from the host header; "tls" in the line says who
answered):
{"status":200,"pod":"...","body":{...}} or {"error":"..."}. Exit code 0 when every
request got a response (any status), 1 otherwise.`;

const { values, positionals } = parseArgs({
  options: {
    n: { type: 'string', short: 'n', default: '1' },
    H: { type: 'string', short: 'H', multiple: true, default: [] },
    X: { type: 'string', short: 'X', default: 'GET' },
    timeout: { type: 'string', default: '5s' },
    keepalive: { type: 'boolean' },
    cacert: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  allowPositionals: true,
});
if (values.help || positionals.length !== 1) {
  process.stdout.write(USAGE + '\n');
  process.exit(values.help ? 0 : 2);
}
if (positionals[0].startsWith('grpc://')) {
  // gRPC: trellis.echo.Echo/Echo, one JSON line per call.
  const target = positionals[0].slice('grpc://'.length);
  let failed = false;
  for (let i = 0; i < Number(values.n); i++) {
    try {
      const reply = await grpcEchoOnce(target, `hello ${i}`, Number(/^(\d+)s$/.exec(values.timeout)?.[1] ?? 5) * 1000);
      process.stdout.write(JSON.stringify({ status: 'OK', pod: reply.pod, body: reply }) + '\n');
    } catch (err) {
      failed = true;
      process.stdout.write(JSON.stringify({ error: (err as Error).message }) + '\n');
    }
  }
  process.exit(failed ? 1 : 0);
}
const url = new URL(positionals[0]);
const count = Number(values.n);
const timeoutMs = Number(/^(\d+)s$/.exec(values.timeout)?.[1] ?? 5) * 1000;
const headers: Record<string, string> = {};
for (const h of values.H) {
  const i = h.indexOf(':');
  if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
}
// A new connection per request by default, so a Service's load balancing shows across requests.
const secure = url.protocol === 'https:';
const agent = secure
  ? new https.Agent({
      keepAlive: values.keepalive ?? false,
      ca: values.cacert ? fs.readFileSync(values.cacert) : undefined,
      cert: values.cert ? fs.readFileSync(values.cert) : undefined,
      key: values.key ? fs.readFileSync(values.key) : undefined,
      servername: (headers.host ?? url.hostname).split(':')[0],
    })
  : new http.Agent({ keepAlive: values.keepalive ?? false });

function once(): Promise<boolean> {
  return new Promise((resolve) => {
    const request = secure ? https.request : http.request;
    const req = request(url, { method: values.X, headers, agent: agent as http.Agent, timeout: timeoutMs }, (res) => {
      const socket = res.socket as TLSSocket;
      const peer = secure ? socket.getPeerCertificate?.() : undefined;
      const tls = peer ? { subject: peer.subject?.CN, issuer: peer.issuer?.CN, servername: (socket as unknown as { servername?: string }).servername } : undefined;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON: keep the text */
        }
        const pod = typeof body === 'object' && body !== null ? (body as { pod?: string }).pod : undefined;
        process.stdout.write(JSON.stringify({ status: res.statusCode, pod, headers: res.headers, body, ...(tls ? { tls } : {}) }) + '\n');
        resolve(true);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${values.timeout}`)));
    req.on('error', (err) => {
      process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
      resolve(false);
    });
    req.end();
  });
}

let ok = true;
for (let i = 0; i < count; i++) ok = (await once()) && ok;
agent.destroy();
// exitCode, not exit(): a large reply still being written to a pipe would be cut short.
process.exitCode = ok ? 0 : 1;
