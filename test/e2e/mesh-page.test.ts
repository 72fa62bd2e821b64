// The mesh page in a real browser (headless Chromium driven by puppeteer-core), opened the way
// an operator opens it (`trellisctl dashboard`'s local server, with a token allowed to read the
// debug pages): the bookinfo-like graph with the client's edge to reviews and reviews' edges to
// its two versions, from the proxies' own statistics; a VirtualService's rollout reaching every
// proxy it concerns, on the page and in `kubectl get vs`; and a proxy that rejects what it is
// sent, its NACK on the page and in the object's Reconciled condition.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import puppeteer from 'puppeteer-core';
import { startDashboardProxy, type DashboardProxy } from '../../src/cli/dashboard.js';
import { TypeUrl } from '../../src/xds/types.js';
import { AdsClient } from '../support/ads-client.js';
import { applyAll, applyIstioObject, clientPod, clusterAvailable, echoDeployment, echoFrom, kube, kubeconfigPath, kubectlPath, root, run, testNamespace, waitFor } from '../support/cluster.js';
import { installTrellis } from '../support/install.js';
import { debugReaderToken, removeDebugReader, serviceAccountToken } from '../support/tokens.js';

const ns = testNamespace('meshpage');
const lone = testNamespace('meshpage-nack');
const { core } = kube();
const CP = 'trellis.trellis-system.svc';
const REVIEWS = `reviews.${ns}.svc.cluster.local`;
/** Where the test leaves its screenshot (README.md shows a copy). */
const SCREENSHOT = path.join(root, '.devcluster/mesh-page.png');

let dashboard: DashboardProxy;
let browser: Browser;
let page: Page;
let rejecting: AdsClient | undefined;

function chromium(): string {
  const found = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/google-chrome'].find((p): p is string => !!p && fs.existsSync(p));
  if (!found) throw new Error('no Chromium: install Debian\'s chromium package (make setup does) or set CHROMIUM_PATH');
  return found;
}

const service = (name: string, app: string): unknown => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { selector: { app }, ports: [{ name: 'http', port: 8080 }] } });

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  await core.createNamespace({ body: { metadata: { name: ns, labels: { 'trellis-injection': 'enabled' } } } });
  await core.createNamespace({ body: { metadata: { name: lone } } });
  await applyAll([
    echoDeployment(ns, 'productpage', 1),
    echoDeployment(ns, 'reviews-v1', 1, { app: 'reviews', version: 'v1' }),
    echoDeployment(ns, 'reviews-v2', 1, { app: 'reviews', version: 'v2' }),
    echoDeployment(ns, 'ratings', 1),
    service('productpage', 'productpage'),
    service('reviews', 'reviews'),
    service('ratings', 'ratings'),
    clientPod(ns),
  ] as never);
  await waitFor('the bookinfo pods ready', async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns })).items;
    return pods.length === 5 && pods.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }, 240_000);
  const cpIp = (await core.readNamespacedService({ namespace: 'trellis-system', name: 'trellis' })).spec?.clusterIP ?? '';
  dashboard = await startDashboardProxy({ controlPlane: `http://${cpIp}:15014`, token: await debugReaderToken(ns) });
  browser = await puppeteer.launch({ executablePath: chromium(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  await page.goto(dashboard.url, { waitUntil: 'domcontentloaded' });
}, 360_000);

afterAll(async () => {
  rejecting?.close();
  await browser?.close();
  await dashboard?.close();
  await removeDebugReader(ns).catch(() => undefined);
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
  await core.deleteNamespace({ name: lone }).catch(() => undefined);
});

test('the service graph shows the client calling reviews and reviews serving from both versions, with rates', async () => {
  const traffic = (async () => {
    for (let i = 0; i < 40; i++) await echoFrom(`${ns}/client`, 'http://reviews:8080/', 10);
  })();
  const edge = (source: string, target: string) => `#graph g.edge[data-source="${source}"][data-target="${target}"]`;
  const toReviews = edge(`workload:${ns}/client`, `service:${REVIEWS}`);
  const rps = await waitFor('the client → reviews edge with traffic', async () => {
    const v = await page.$eval(toReviews, (e) => Number(e.getAttribute('data-rps'))).catch(() => 0);
    return v > 0 ? v : undefined;
  }, 120_000, 1000);
  expect(rps).toBeGreaterThan(0);
  for (const v of ['reviews-v1', 'reviews-v2']) await page.waitForSelector(edge(`service:${REVIEWS}`, `workload:${ns}/${v}`), { timeout: 60_000 });
  await traffic;
}, 240_000);

test("a VirtualService's rollout reaches every proxy it concerns: on the page, and in kubectl get vs", async () => {
  await applyIstioObject(ns, 'VirtualService', 'reviews', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] });
  const row = `tr[data-config="VirtualService/${ns}/reviews"]`;
  const [upToDate, reached] = await waitFor('the rollout complete on the page', async () => {
    const v = await page.$eval(row, (e) => [Number(e.getAttribute('data-up-to-date')), Number(e.getAttribute('data-reached'))]).catch(() => undefined);
    return v && v[1] >= 5 && v[0] === v[1] ? v : undefined;
  }, 60_000, 500);
  expect(upToDate).toBe(reached);
  // The same count in the API, shown by kubectl's printer column.
  const out = await waitFor('kubectl get vs', async () => {
    const r = await run(kubectlPath(), ['--kubeconfig', kubeconfigPath, 'get', 'vs', 'reviews', '-n', ns]);
    return r.stdout.includes(`${reached}/${reached} proxies up to date.`) ? r.stdout : undefined;
  }, 30_000, 500);
  expect(out.split('\n')[0]).toMatch(/NAME\s+GATEWAYS\s+HOSTS\s+RECONCILED\s+AGE/);
});

test('a proxy that rejects its configuration: its NACK on the page and in the object\'s Reconciled condition', async () => {
  // A proxy of its own namespace (an authenticated xDS client, as Envoy connects) that rejects
  // the routes as soon as they carry the host below, as an Envoy would reject bad config.
  const rootCa = await waitFor('the published root', async () => (await core.readNamespacedConfigMap({ namespace: lone, name: 'istio-ca-root-cert' }).catch(() => undefined))?.data?.['root-cert.pem']);
  const cpIp = (await core.readNamespacedService({ namespace: 'trellis-system', name: 'trellis' })).spec?.clusterIP ?? '';
  const message = 'Error adding/updating route 80: broken.example: rejected by this proxy';
  rejecting = new AdsClient(`${cpIp}:15012`, {
    node: { id: `sidecar~10.244.9.9~rejecter.${lone}~${lone}.svc.cluster.local`, metadata: { fields: { NAMESPACE: { stringValue: lone }, LABELS: { structValue: { fields: { app: { stringValue: 'rejecter' } } } } } } },
    tls: { rootCa, serverName: CP },
    token: await serviceAccountToken(lone, 'default', { audiences: ['istio-ca'] }),
    reject: (r) => (r.typeUrl === TypeUrl.Route && [...r.values.values()].some((v) => v.includes('broken.example')) ? message : undefined),
  });
  rejecting.subscribe(TypeUrl.Cluster, []);
  rejecting.subscribe(TypeUrl.Listener, []);
  rejecting.subscribe(TypeUrl.Route, ['80']);
  await rejecting.until('configuration', () => rejecting!.names(TypeUrl.Listener).length > 0, 30_000);
  await applyIstioObject(lone, 'ServiceEntry', 'broken', { hosts: ['broken.example'], exportTo: ['.'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], resolution: 'STATIC', endpoints: [{ address: '10.244.9.10' }] });
  await applyIstioObject(lone, 'VirtualService', 'broken', { hosts: ['broken.example'], exportTo: ['.'], http: [{ timeout: '3s', route: [{ destination: { host: 'broken.example' } }] }] });
  const proxyId = `sidecar~10.244.9.9~rejecter.${lone}~${lone}.svc.cluster.local`;
  const row = `tr[data-config="VirtualService/${lone}/broken"]`;
  const shown = await waitFor('the NACK on the page', async () => page.$eval(`${row} .nack`, (e) => e.textContent ?? '').catch(() => undefined), 60_000, 500);
  expect(shown).toContain(message);
  expect(await page.$eval(`tr[data-proxy="${proxyId}"]`, (e) => e.getAttribute('data-sync'))).toBe('NACK');
  const condition = await waitFor('Reconciled False with the NACK', async () => {
    const vs = (await run(kubectlPath(), ['--kubeconfig', kubeconfigPath, 'get', 'vs', 'broken', '-n', lone, '-o', 'json'])).stdout;
    const c = (JSON.parse(vs || '{}') as { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }).status?.conditions?.find((x) => x.type === 'Reconciled');
    return c?.reason === 'ProxyRejected' ? c : undefined;
  }, 30_000, 500);
  expect(condition.status).toBe('False');
  expect(condition.message).toContain(`1 rejected it: ${proxyId}: ${message}`);
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT as `${string}.png`, fullPage: true });
});
