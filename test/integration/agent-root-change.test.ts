// The real agent process (dist/src/sidecar/agent.js, as the proxy image runs it) against a mesh
// CA on loopback: it obtains its certificate, then follows its root file as the kubelet updates
// the ConfigMap volume, pushing the new bundle to Envoy (the SDS side is proven with real Envoys
// in ca-root-change-envoy.test.ts); a file that is not CA certificates is refused. Envoy is a
// stand-in here (a process that waits), so no fixed admin port is taken. No cluster needed; the
// build (npx tsc) must be current.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MeshCa } from '../../src/ca/authority.js';
import { addCertificateService } from '../../src/ca/certificate-service.js';
import { TokenAuthenticator } from '../../src/ca/token-review.js';
import { loggerFor, setLogLevel } from '../../src/util/logger.js';
import { kubeletWrite } from '../support/configmap-volume.js';
import { repoRoot, waitFor } from '../support/envoy.js';

setLogLevel('error');
let dir: string;
let server: grpc.Server;
let agent: ChildProcess;
let oldCa: MeshCa;
let newCa: MeshCa;

const volume = (): string => path.join(dir, 'istio');
const writeRoot = (content: string): void => kubeletWrite(volume(), 'root-cert.pem', content);
const logText = (): string => fs.readFileSync(path.join(dir, 'agent.log'), 'utf8');
const lines = (): Array<{ message?: string; error?: string; roots?: number }> =>
  logText()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { message?: string }];
      } catch {
        return [];
      }
    });


beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-agent-root-'));
  fs.mkdirSync(volume());
  [oldCa, newCa] = await Promise.all([MeshCa.create({ trustDomain: 'cluster.local' }), MeshCa.create({ trustDomain: 'cluster.local' })]);
  const serving = await oldCa.issueServing(['trellis.trellis-system.svc'], 1, { ips: ['127.0.0.1'] });
  server = new grpc.Server();
  const yes = async () => ({ authenticated: true, audiences: ['istio-ca'], user: { username: 'system:serviceaccount:test:default' } });
  addCertificateService(server, { ca: oldCa, tokens: new TokenAuthenticator(yes, { maxEntries: 0 }), trustDomain: 'cluster.local', log: loggerFor('test-ca') });
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.cert), private_key: Buffer.from(serving.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  writeRoot(oldCa.rootPem);
  fs.writeFileSync(path.join(dir, 'token'), 'test');
  fs.writeFileSync(path.join(dir, 'envoy'), '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
  const log = fs.openSync(path.join(dir, 'agent.log'), 'w');
  agent = spawn(process.execPath, [path.join(repoRoot(), 'dist/src/sidecar/agent.js')], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      POD_NAME: 'p',
      POD_NAMESPACE: 'test',
      INSTANCE_IP: '127.0.0.1',
      TRELLIS_DISCOVERY_ADDRESS: `127.0.0.1:${port}`,
      TRELLIS_TOKEN_FILE: path.join(dir, 'token'),
      TRELLIS_ROOT_CERT: path.join(volume(), 'root-cert.pem'),
      TRELLIS_SDS_SOCKET: path.join(dir, 'sds.sock'),
      TRELLIS_CONFIG_DIR: path.join(dir, 'config'),
      TRELLIS_LABELS_FILE: path.join(dir, 'labels'),
      TRELLIS_ENVOY: path.join(dir, 'envoy'),
    },
    stdio: ['ignore', log, log],
    detached: true,
  });
  fs.closeSync(log);
});

afterAll(async () => {
  if (agent?.pid) {
    try {
      process.kill(-agent.pid, 'SIGKILL'); // the agent and its stand-in Envoy
    } catch {
      /* gone */
    }
  }
  server?.forceShutdown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the agent obtains its certificate, then pushes each new root bundle; a bad file is refused', async () => {
  await waitFor('the workload certificate', async () => lines().some((l) => l.message === 'workload certificate issued'), 30_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${logText()}`);
  });
  writeRoot(newCa.rootPem + oldCa.rootPem);
  const pushed = await waitFor('the new bundle pushed', async () => lines().find((l) => l.message === 'mesh root certificates changed; pushed to Envoy'), 30_000);
  expect(pushed.roots).toBe(2);
  writeRoot('not a certificate');
  const refused = await waitFor('the bad file refused', async () => lines().find((l) => l.message === 'refusing the changed root certificate file; keeping the current roots'), 30_000);
  expect(refused.error).toBe('holds no PEM certificate');
  writeRoot(newCa.rootPem);
  await waitFor('the new root alone pushed', async () => lines().filter((l) => l.message === 'mesh root certificates changed; pushed to Envoy').length === 2, 30_000);
  expect(agent.exitCode).toBeNull();
});
