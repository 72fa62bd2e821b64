// Istio's authorization tasks on a real cluster, with real sidecars and real traffic: deny all,
// then allow GET from one service account to one path; DENY by source namespace over an ALLOW;
// ipBlocks; a header condition; a TCP port allowed for one principal only; AUDIT, which allows
// (Envoy's RBAC LOG action); and a policy change that takes effect on an open connection's next request while
// other clients keep being served. Every refusal is asserted as the caller sees it: 403
// "RBAC: access denied" on HTTP, a closed connection on TCP.
import type { V1Pod } from '@kubernetes/client-node';
import { installTrellis } from '../support/install.js';
import { applyAll, applyIstioObject, clusterAvailable, ECHO_IMAGE, deleteIstioObject, echoDeployment, echoFrom, kube, testNamespace, waitFor, type EchoReply, proxyPage } from '../support/cluster.js';
import { epoch, makeIssuer } from '../support/jwt.js';
import { createServiceAccount } from '../support/tokens.js';
import { proxyPod } from '../support/cluster.js';

const ns = testNamespace('authz');
const other = `${ns}-other`;
/** Where the e2e chart values (test/fixtures/e2e-values.yaml) expect the external authorizer. */
const EXT_AUTHZ_NS = 'trellis-e2e-authz';
const GATEWAY = { app: `gw-${ns}` };
const { core } = kube();

const ready = (p: V1Pod): boolean => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

function client(namespace: string, name: string, serviceAccount = 'default'): never {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: name } },
    spec: { serviceAccountName: serviceAccount, terminationGracePeriodSeconds: 1, containers: [{ name: 'client', image: ECHO_IMAGE, command: ['sleep', 'infinity'] }] },
  } as never;
}

const policy = (name: string, spec: Record<string, unknown>): Promise<void> => applyIstioObject(ns, 'AuthorizationPolicy', name, spec);
const statuses = (r: EchoReply[]): (number | string)[] => r.map((x) => x.status ?? 'closed');

/** The status of one request (`closed`: no HTTP response, the connection was closed). */
async function call(from: string, url: string, opts: { method?: string; headers?: string[] } = {}): Promise<number | string> {
  const [r] = await echoFrom(from, url, 1, opts.headers ?? [], opts.method ? ['-X', opts.method] : []);
  return r?.status ?? 'closed';
}

/** Waits until `from` gets `want` for `url`: the policy has reached the sidecar. */
const until = (what: string, from: string, url: string, want: number | string, opts: { method?: string; headers?: string[] } = {}): Promise<unknown> =>
  waitFor(what, async () => (await call(from, url, opts)) === want, 30_000);

const HTTP = `http://echo.${ns}:8080`;
const TCP = `http://echo.${ns}:9090`;
const me = `${ns}/sleep`;
const stranger = `${ns}/stranger`;
const outsider = `${other}/outsider`;

/** A page of a pod's Envoy admin (loopback inside the pod), as text. */
async function envoyAdmin(pod: string, page: string): Promise<string> {
  return proxyPage(pod, `http://127.0.0.1:15000${page}`);
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  await installTrellis();
  for (const n of [ns, other]) await core.createNamespace({ body: { metadata: { name: n, labels: { 'trellis-injection': 'enabled' } } } });
  await core.deleteNamespace({ name: EXT_AUTHZ_NS }).catch(() => undefined);
  await waitFor('a clean authorizer namespace', async () => (await core.readNamespace({ name: EXT_AUTHZ_NS }).catch(() => undefined)) === undefined, 120_000);
  await core.createNamespace({ body: { metadata: { name: EXT_AUTHZ_NS } } });
  await createServiceAccount(ns, 'sleep');
  await applyAll([
    echoDeployment(ns, 'echo', 1, { app: 'echo' }, { env: [{ name: 'ECHO_PORTS', value: '8080,9090' }] }),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo', namespace: ns },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }, { name: 'tcp', port: 9090, targetPort: 9090 }] },
    } as never,
    client(ns, 'sleep', 'sleep'),
    client(ns, 'stranger'),
    client(other, 'outsider'),
    echoDeployment(EXT_AUTHZ_NS, 'ext-authz', 1),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext-authz', namespace: EXT_AUTHZ_NS }, spec: { selector: { app: 'ext-authz' }, ports: [{ name: 'http', port: 8080, targetPort: 8080 }] } } as never,
    { apiVersion: 'v1', kind: 'Pod', ...proxyPod({ name: 'ingress', namespace: ns, labels: GATEWAY, discoveryAddress: 'trellis.trellis-system.svc:15012', env: [{ name: 'TRELLIS_PROXY_TYPE', value: 'router' }] }) } as never,
  ]);
  await waitFor('the pods', async () => {
    const pods = [ns, other, EXT_AUTHZ_NS].map((namespace) => core.listNamespacedPod({ namespace }));
    const all = (await Promise.all(pods)).flatMap((l) => l.items);
    return all.length === 6 && all.every(ready);
  }, 180_000);
  await waitFor('meshed traffic', async () => (await call(me, `${HTTP}/`)) === 200 && (await call(outsider, `${HTTP}/`)) === 200, 60_000);
});

afterAll(async () => {
  for (const name of [ns, other, EXT_AUTHZ_NS]) await core.deleteNamespace({ name }).catch(() => undefined);
});

afterEach(async () => {
  for (const name of ['allow-nothing', 'allow-sleep-get', 'allow-all', 'deny-other-ns', 'allow-ip', 'deny-header', 'tcp-sleep-only', 'audit', 'deny-sleep', 'require-jwt', 'ext-authz', 'gateway-admin']) {
    await deleteIstioObject(ns, 'AuthorizationPolicy', name).catch(() => undefined);
  }
  await deleteIstioObject(ns, 'RequestAuthentication', 'jwt').catch(() => undefined);
  await until('no policy', me, `${HTTP}/`, 200);
  await until('no policy on TCP', stranger, `${TCP}/`, 200);
});

test('deny all (`spec: {}`), then allow GET from one service account to one path', async () => {
  await policy('allow-nothing', {});
  await until('deny all', me, `${HTTP}/hello`, 403);
  const [denied] = await echoFrom(me, `${HTTP}/hello`, 1);
  expect(denied?.status).toBe(403);
  expect(JSON.stringify(denied)).toContain('RBAC: access denied');
  expect(await call(me, `${TCP}/`)).toBe('closed');

  await policy('allow-sleep-get', { selector: { matchLabels: { app: 'echo' } }, rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/sleep`] } }], to: [{ operation: { methods: ['GET'], paths: ['/hello*'] } }] }] });
  await until('the allow rule', me, `${HTTP}/hello`, 200);
  expect(await call(me, `${HTTP}/hello/there`)).toBe(200);
  expect(await call(me, `${HTTP}/hello`, { method: 'POST' })).toBe(403);
  expect(await call(me, `${HTTP}/goodbye`)).toBe(403);
  expect(await call(stranger, `${HTTP}/hello`)).toBe(403);
  expect(await call(outsider, `${HTTP}/hello`)).toBe(403);
});

test('DENY by source namespace wins over an ALLOW of everything', async () => {
  await policy('allow-all', { rules: [{}] });
  await policy('deny-other-ns', { action: 'DENY', rules: [{ from: [{ source: { namespaces: [other] } }] }] });
  await until('the deny', outsider, `${HTTP}/`, 403);
  expect(await call(me, `${HTTP}/`)).toBe(200);
  expect(await call(stranger, `${HTTP}/`)).toBe(200);
});

test('ipBlocks: only the named client address is allowed', async () => {
  const ip = (await core.readNamespacedPod({ namespace: ns, name: 'sleep' })).status?.podIP ?? '';
  expect(ip).not.toBe('');
  await policy('allow-ip', { rules: [{ from: [{ source: { ipBlocks: [`${ip}/32`] } }] }] });
  await until('the ipBlocks rule', stranger, `${HTTP}/`, 403);
  expect(await call(me, `${HTTP}/`)).toBe(200);
});

test('a header condition: DENY when x-token is "evil"', async () => {
  await policy('deny-header', { action: 'DENY', rules: [{ when: [{ key: 'request.headers[x-token]', values: ['evil'] }] }] });
  await until('the header rule', me, `${HTTP}/`, 403, { headers: ['x-token: evil'] });
  expect(await call(me, `${HTTP}/`, { headers: ['x-token: good'] })).toBe(200);
  expect(await call(me, `${HTTP}/`)).toBe(200);
});

test('a TCP port allowed for one principal only: others have their connection closed', async () => {
  await policy('tcp-sleep-only', { rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/sleep`] } }], to: [{ operation: { ports: ['9090'] } }] }] });
  await until('the TCP rule', stranger, `${TCP}/`, 'closed');
  expect(await call(me, `${TCP}/`)).toBe(200);
  expect(await call(outsider, `${TCP}/`)).toBe('closed');
  // The same rule does not allow the HTTP port: nothing else is allowed there. (The client's
  // sidecar may hold a pooled connection from before the change: Envoy drains the changed
  // filter chain, serving that connection's next request under the old policy as it closes it.)
  await until('the HTTP port refused', me, `${HTTP}/`, 403);
  expect(await call(me, `${HTTP}/`)).toBe(403);
});

test("AUDIT allows, and the sidecar's Envoy runs it as RBAC LOG rules holding the policy and counts what it audited", async () => {
  const echoPods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=echo' })).items.map((p) => p.metadata?.name ?? '');
  const echoPod = echoPods[0];
  /** The audit rule's counter, summed over the echo pods' Envoys (a request reaches one of them). */
  const audited = async (): Promise<number> => {
    let sum = 0;
    for (const pod of echoPods) {
      const stats = await envoyAdmin(`${ns}/${pod}`, '/stats?filter=rbac.policy');
      for (const line of stats.split('\n')) if (line.includes(`rbac.policy.ns[${ns}]-policy[audit]-rule[0].allowed:`)) sum += Number(line.split(': ')[1] ?? 0);
    }
    return sum;
  };
  await policy('audit', { action: 'AUDIT', rules: [{ to: [{ operation: { paths: ['/audited'] } }] }] });
  // What the echo pod's own Envoy runs (its admin config_dump), not what Trellis meant to send.
  const logFilter = await waitFor('the audit filter in Envoy', async () => {
    const dump = await envoyAdmin(`${ns}/${echoPod}`, '/config_dump?resource=dynamic_route_configs');
    const m = /"action":\s*"LOG",\s*"policies":\s*\{\s*"([^"]+)"/.exec(dump);
    return m?.[1];
  }, 30_000);
  expect(logFilter).toBe(`ns[${ns}]-policy[audit]-rule[0]`);
  const before = await audited();
  expect(statuses(await echoFrom(me, `${HTTP}/audited`, 3))).toEqual([200, 200, 200]);
  expect(await call(stranger, `${HTTP}/audited`)).toBe(200);
  expect(await call(me, `${HTTP}/not-audited`)).toBe(200);
  // The four audited requests, and not the other one.
  expect((await audited()) - before).toBe(4);
});

test("a policy change reaches an open connection's next request; other clients are served throughout", async () => {
  // Both clients send over one kept-alive connection each while the DENY for `sleep` lands.
  // 1,500 requests take several seconds; the policy lands once the client's own sidecar has
  // counted 50 of its requests (its start-up takes longer on a busy machine: no fixed sleep).
  const sent = async (): Promise<number> => {
    const stats = await envoyAdmin(me, '/stats?filter=upstream_rq_total');
    const line = stats.split('\n').find((l) => l.startsWith(`cluster.outbound|8080||echo.${ns}.`) && l.includes('.upstream_rq_total:'));
    return Number(line?.split(': ')[1] ?? 0);
  };
  const before = await sent();
  const mine = echoFrom(me, `${HTTP}/`, 1500, [], ['--keepalive']);
  const theirs = echoFrom(stranger, `${HTTP}/`, 1500, [], ['--keepalive']);
  await waitFor('the client to be under way', async () => (await sent()) >= before + 50, 60_000, 100);
  await policy('deny-sleep', { action: 'DENY', rules: [{ from: [{ source: { principals: [`cluster.local/ns/${ns}/sa/sleep`] } }] }] });
  const [a, b] = await Promise.all([mine, theirs]);
  const seen = statuses(a);
  // Served until the policy arrived, refused from then on, on the same connection, nothing else.
  const firstDenied = seen.indexOf(403);
  expect(firstDenied).toBeGreaterThan(0);
  expect(seen.slice(0, firstDenied).every((s) => s === 200)).toBe(true);
  expect(seen.slice(firstDenied).every((s) => s === 403)).toBe(true);
  expect(statuses(b).every((s) => s === 200)).toBe(true);
});

describe('JWT: RequestAuthentication and request principals', () => {
  const issuer = makeIssuer('ES256');
  const ISS = 'https://issuer.trellis.test';
  const token = (claims: Record<string, unknown> = {}, signer = issuer): string => signer.sign({ iss: ISS, sub: 'alice', aud: 'echo', exp: epoch(600), group: 'admins', ...claims });
  const bearer = (t: string): string[] => [`authorization: Bearer ${t}`];

  test('a valid token passes and its claims drive a `when`; an invalid one gets 401; requestPrincipals without a token gets 403', async () => {
    await applyIstioObject(ns, 'RequestAuthentication', 'jwt', { selector: { matchLabels: { app: 'echo' } }, jwtRules: [{ issuer: ISS, audiences: ['echo'], jwks: issuer.jwks }] });
    await policy('require-jwt', {
      selector: { matchLabels: { app: 'echo' } },
      rules: [
        { to: [{ operation: { paths: ['/public*'] } }] },
        { from: [{ source: { requestPrincipals: [`${ISS}/*`] } }], to: [{ operation: { paths: ['/admin*'] } }], when: [{ key: 'request.auth.claims[group]', values: ['admins'] }] },
      ],
    });
    await until('the JWT filter', me, `${HTTP}/admin`, 401, { headers: bearer(token({ exp: epoch(-3600) })) });
    // jwt_authn is in the listener, the RBAC rules in the routes: a connection the client's
    // sidecar opened before the listener update keeps the old filter chain (no jwt_authn) for one
    // more request while Envoy drains it (5 s, --drain-time-s), but already has the new routes,
    // so a token there is neither verified nor accepted (403). Past the drain, every connection
    // has both.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await call(me, `${HTTP}/admin`, { headers: bearer(token()) })).toBe(200);
    // The claim decides: a valid token of another group is authenticated, then not authorised.
    expect(await call(me, `${HTTP}/admin`, { headers: bearer(token({ group: 'users' })) })).toBe(403);
    // Invalid tokens: signed by another key, expired (401), for another audience (403, as Envoy
    // answers it). Never let through: every answer is a refusal, and it is the expected one.
    const refused = async (t: string, want: number): Promise<void> => {
      const seen: (number | string)[] = [];
      for (let i = 0; i < 3; i++) seen.push(await call(me, `${HTTP}/admin`, { headers: bearer(t) }));
      expect(seen.every((x) => x === want)).toBe(true);
    };
    await refused(token({}, makeIssuer('ES256', issuer.kid)), 401);
    await refused(token({ aud: 'someone-else' }), 403);
    await refused(token({ exp: epoch(-3600) }), 401);
    // No token: passes authentication, and only the rule that needs no principal allows it.
    expect(await call(me, `${HTTP}/admin`)).toBe(403);
    expect(await call(me, `${HTTP}/public`)).toBe(200);
    // An invalid token is refused even where no principal is needed.
    expect(await call(me, `${HTTP}/public`, { headers: bearer('not.a.jwt') })).toBe(401);
  });
});

describe('CUSTOM: an external authorizer served by a pod', () => {
  test('it decides the requests the policy selects, by a header; the others never reach it', async () => {
    const authorizer = (await core.listNamespacedPod({ namespace: EXT_AUTHZ_NS, labelSelector: 'app=ext-authz' })).items[0]?.metadata?.name ?? '';
    await policy('ext-authz', { selector: { matchLabels: { app: 'echo' } }, action: 'CUSTOM', provider: { name: 'e2e-ext-authz' }, rules: [{ to: [{ operation: { paths: ['/ext/*'] } }] }] });
    // Denied by the authorizer: its answer (status and body, naming its pod) comes back.
    const denied = await waitFor('the authorizer', async () => {
      const [r] = await echoFrom(me, `${HTTP}/ext/x`, 1, ['x-echo-status: 403']);
      return r?.status === 403 && r.pod === authorizer ? r : undefined;
    }, 30_000);
    expect(denied.body?.path).toBe('/ext/x');
    const [allowed] = await echoFrom(me, `${HTTP}/ext/x`, 1);
    expect([allowed?.status, allowed?.pod]).toEqual([200, expect.stringMatching(/^echo-/)]);
    // Not selected by the policy's rules: the app answers, the authorizer is not asked.
    const [app] = await echoFrom(me, `${HTTP}/other`, 1, ['x-echo-status: 403']);
    expect([app?.status, app?.pod]).toEqual([403, expect.stringMatching(/^echo-/)]);
  });
});

describe('an ingress gateway', () => {
  test('a DENY on a host and path at the gateway: 403 there, other paths routed', async () => {
    const gw = await core.readNamespacedPod({ namespace: ns, name: 'ingress' });
    await applyIstioObject(ns, 'Gateway', 'edge', { selector: GATEWAY, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['echo.example.com'] }] });
    await applyIstioObject(ns, 'VirtualService', 'edge', { hosts: ['echo.example.com'], gateways: ['edge'], http: [{ route: [{ destination: { host: 'echo', port: { number: 8080 } } }] }] });
    const url = `http://${gw.status?.podIP}:80`;
    const host = ['host: echo.example.com'];
    await until('the gateway route', me, `${url}/public`, 200, { headers: host });
    await policy('gateway-admin', { selector: { matchLabels: GATEWAY }, action: 'DENY', rules: [{ to: [{ operation: { hosts: ['echo.example.com'], paths: ['/admin*'] } }] }] });
    await until('the gateway policy', me, `${url}/admin/users`, 403, { headers: host });
    expect(await call(me, `${url}/public`, { headers: host })).toBe(200);
    // The sidecar behind the gateway was not told anything: the same path, asked directly, passes.
    expect(await call(me, `${HTTP}/admin/users`)).toBe(200);
  });
});
