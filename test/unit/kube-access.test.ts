// Reaching the API server without client-node's KubeConfig: a kubeconfig file's current context
// (data inline or in files relative to it, tokens, token files, basic auth), the pod's service
// account in a cluster, and the kubeconfigs left to KubeConfig (plug-ins, proxies).
import fs from 'node:fs';
import type https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { ClusterAccess, inClusterAccess, kubeconfigAccess, KubeconfigError } from '../../src/kube/access.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-access-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function applied(access: ClusterAccess): Promise<https.RequestOptions> {
  const opts: https.RequestOptions = { headers: { accept: 'application/json' } };
  await access.applyToHTTPSOptions(opts);
  return opts;
}

test('the current context: inline CA and client certificate, the server and the server name', async () => {
  const file = path.join(dir, 'inline.yaml');
  const text = `
apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: other
  context: { cluster: nowhere, user: nobody }
- name: dev
  context: { cluster: devcluster, user: admin }
clusters:
- name: devcluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: ${b64('CA PEM')}
    tls-server-name: kubernetes
users:
- name: admin
  user:
    client-certificate-data: ${b64('CERT PEM')}
    client-key-data: ${b64('KEY PEM')}
`;
  const access = kubeconfigAccess(file, text)!;
  expect(access.getCurrentCluster()).toEqual({ server: 'https://10.0.0.1:6443' });
  const opts = await applied(access);
  expect(String(opts.ca)).toBe('CA PEM');
  expect(String(opts.cert)).toBe('CERT PEM');
  expect(String(opts.key)).toBe('KEY PEM');
  expect(opts.servername).toBe('kubernetes');
  expect(opts.rejectUnauthorized).toBeUndefined();
  expect(opts.headers).toEqual({ accept: 'application/json' });
});

test('files are read relative to the kubeconfig; a token file is re-read after a minute', async () => {
  fs.writeFileSync(path.join(dir, 'ca.crt'), 'CA FROM FILE');
  fs.writeFileSync(path.join(dir, 'token'), 'first\n');
  const file = path.join(dir, 'files.yaml');
  fs.writeFileSync(
    file,
    `current-context: c
contexts: [{ name: c, context: { cluster: k, user: u } }]
clusters: [{ name: k, cluster: { server: 'https://api:443', certificate-authority: ca.crt } }]
users: [{ name: u, user: { tokenFile: token } }]
`,
  );
  let now = 1_000_000;
  const access = kubeconfigAccess(file, undefined, () => now)!;
  const first = await applied(access);
  expect(String(first.ca)).toBe('CA FROM FILE');
  expect((first.headers as Record<string, string>).authorization).toBe('Bearer first');
  fs.writeFileSync(path.join(dir, 'token'), 'second\n');
  now += 59_000;
  expect(((await applied(access)).headers as Record<string, string>).authorization).toBe('Bearer first');
  now += 1_000;
  expect(((await applied(access)).headers as Record<string, string>).authorization).toBe('Bearer second');
  // The kubelet swaps the file by renaming: a moment without it keeps the last token.
  fs.rmSync(path.join(dir, 'token'));
  now += 60_000;
  expect(((await applied(access)).headers as Record<string, string>).authorization).toBe('Bearer second');
});

test('a static token, basic auth and insecure-skip-tls-verify', async () => {
  const kc = (user: string, cluster = ''): string => `current-context: c
contexts: [{ name: c, context: { cluster: k, user: u } }]
clusters: [{ name: k, cluster: { server: 'https://api', ${cluster} } }]
users: [{ name: u, user: { ${user} } }]
`;
  const token = await applied(kubeconfigAccess('t.yaml', kc('token: abc', 'insecure-skip-tls-verify: true'))!);
  expect((token.headers as Record<string, string>).authorization).toBe('Bearer abc');
  expect(token.rejectUnauthorized).toBe(false);
  const basic = await applied(kubeconfigAccess('b.yaml', kc('username: ann, password: s3cret'))!);
  expect((basic.headers as Record<string, string>).authorization).toBe(`Basic ${b64('ann:s3cret')}`);
  const noPassword = await applied(kubeconfigAccess('n.yaml', kc('username: ann'))!);
  expect((noPassword.headers as Record<string, string>).authorization).toBe(`Basic ${b64('ann:')}`);
  // As client-go: a token file wins over a token.
  fs.writeFileSync(path.join(dir, 'file-token'), 'from-file');
  const both = await applied(kubeconfigAccess(path.join(dir, 'both.yaml'), kc('token: inline, tokenFile: file-token'))!);
  expect((both.headers as Record<string, string>).authorization).toBe('Bearer from-file');
});

test('plug-ins, impersonation and proxies are left to client-node (undefined)', () => {
  const kc = (user: string, cluster = ''): string => `current-context: c
contexts: [{ name: c, context: { cluster: k, user: u } }]
clusters: [{ name: k, cluster: { server: 'https://api', ${cluster} } }]
users: [{ name: u, user: { ${user} } }]
`;
  expect(kubeconfigAccess('e.yaml', kc('exec: { command: gke-gcloud-auth-plugin, apiVersion: client.authentication.k8s.io/v1 }'))).toBeUndefined();
  expect(kubeconfigAccess('a.yaml', kc('auth-provider: { name: oidc }'))).toBeUndefined();
  expect(kubeconfigAccess('i.yaml', kc('token: x, as: someone'))).toBeUndefined();
  expect(kubeconfigAccess('p.yaml', kc('token: x', 'proxy-url: "http://proxy:3128"'))).toBeUndefined();
});

test('a broken kubeconfig names the file and what is wrong', () => {
  const bad = (text: string): string => {
    try {
      kubeconfigAccess('/home/me/.kube/config', text);
    } catch (err) {
      expect(err).toBeInstanceOf(KubeconfigError);
      return (err as Error).message;
    }
    throw new Error('accepted');
  };
  expect(bad('a: [')).toMatch(/^kubeconfig \/home\/me\/\.kube\/config: not YAML/);
  expect(bad('clusters: []')).toBe('kubeconfig /home/me/.kube/config: current-context is not set');
  expect(bad('current-context: prod\ncontexts: []')).toBe('kubeconfig /home/me/.kube/config: contexts has no entry named prod');
  expect(bad('current-context: c\ncontexts: [{ name: c, context: { cluster: k } }]\nclusters: [{ name: k, cluster: {} }]')).toBe('kubeconfig /home/me/.kube/config: cluster k has no server');
  expect(bad('current-context: c\ncontexts: [{ name: c, context: { cluster: k } }]\nclusters: [{ name: k, cluster: { server: "not a url" } }]')).toBe('kubeconfig /home/me/.kube/config: cluster k: server not a url is not a URL');
  expect(bad('current-context: c\ncontexts: [{ name: c, context: { cluster: k } }]\nclusters: [{ name: k, cluster: { server: "https://x", certificate-authority: /nonexistent/ca.crt } }]')).toMatch(
    /^kubeconfig \/home\/me\/\.kube\/config: cluster k: certificate-authority \/nonexistent\/ca\.crt cannot be read/,
  );
});

test('in a pod: the service account CA and token, and the service host (IPv6 in brackets)', async () => {
  const sa = path.join(dir, 'sa');
  fs.mkdirSync(sa);
  fs.writeFileSync(path.join(sa, 'ca.crt'), 'CLUSTER CA');
  fs.writeFileSync(path.join(sa, 'token'), 'pod-token');
  const v4 = inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, sa);
  expect(v4.getCurrentCluster()).toEqual({ server: 'https://10.96.0.1:443' });
  const opts = await applied(v4);
  expect(String(opts.ca)).toBe('CLUSTER CA');
  expect((opts.headers as Record<string, string>).authorization).toBe('Bearer pod-token');
  expect(inClusterAccess({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, sa).getCurrentCluster()).toEqual({ server: 'https://[fd00::1]:6443' });
  expect(() => inClusterAccess({}, sa)).toThrow('no Kubernetes API to talk to: pass --kubeconfig (or set KUBECONFIG), or run in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT)');
  expect(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, sa)).toThrow(/run in a pod \(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT\)/);
  expect(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, path.join(dir, 'missing'))).toThrow(/the service account's CA .*missing\/ca\.crt cannot be read/);
});
