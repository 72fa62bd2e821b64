// The networking.istio.io API (and security.istio.io PeerAuthentication) on the real API server:
// the CRDs accept every valid example; the validating webhook rejects invalid objects with a
// message naming object, field and rule; with the webhook bypassed the controllers mark them
// Accepted=False and leave them out of the model while everything else keeps working; status is
// written once, not in a loop.
import fs from 'node:fs';
import path from 'node:path';
import { AdmissionregistrationV1Api, CustomObjectsApi, loadAllYaml } from '@kubernetes/client-node';
import { clusterAvailable, kube, root, run, kubectlPath, testNamespace, waitFor } from '../support/cluster.js';
import { startControlPlane, type RunningControlPlane } from '../support/control-plane.js';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number };
  spec: unknown;
  status?: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string }[] };
}

const PLURAL: Record<string, string> = {
  VirtualService: 'virtualservices',
  DestinationRule: 'destinationrules',
  Gateway: 'gateways',
  ServiceEntry: 'serviceentries',
  Sidecar: 'sidecars',
  PeerAuthentication: 'peerauthentications',
  AuthorizationPolicy: 'authorizationpolicies',
  RequestAuthentication: 'requestauthentications',
  Telemetry: 'telemetries',
};
const GROUP: Record<string, string> = { PeerAuthentication: 'security.istio.io', AuthorizationPolicy: 'security.istio.io', RequestAuthentication: 'security.istio.io', Telemetry: 'telemetry.istio.io' };
const groupOf = (kind: string): string => GROUP[kind] ?? 'networking.istio.io';
const kubectl = kubectlPath();

function fixtures(dir: string): { file: string; obj: Manifest; expect?: string }[] {
  const base = path.join(root, 'test/fixtures', dir);
  return fs
    .readdirSync(base)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((file) => {
      const text = fs.readFileSync(path.join(base, file), 'utf8');
      const expect = /^# expect: (.*)$/m.exec(text)?.[1];
      return (loadAllYaml(text) as Manifest[]).filter(Boolean).map((obj) => ({ file, obj, expect }));
    });
}

const valid = fixtures('valid');
const invalid = fixtures('invalid');
const on = testNamespace('api-hook'); // the webhook watches this namespace
const off = testNamespace('api-nohook'); // and not this one: as if it were bypassed or down
const hookName = `trellis-validator-${on}`;
const { kc, core } = kube();
const custom = kc.makeApiClient(CustomObjectsApi);
const admission = kc.makeApiClient(AdmissionregistrationV1Api);
let cp: RunningControlPlane;

function create(obj: Manifest, namespace: string): Promise<unknown> {
  const [group, version] = obj.apiVersion.split('/');
  return custom.createNamespacedCustomObject({ group, version, namespace, plural: PLURAL[obj.kind], body: { ...obj, metadata: { ...obj.metadata, namespace } } });
}

function read(kind: string, namespace: string, name: string): Promise<Manifest> {
  return custom.getNamespacedCustomObject({ group: groupOf(kind), version: 'v1', namespace, plural: PLURAL[kind], name }) as Promise<Manifest>;
}

/** The API server's message for a failed request. */
function errorText(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? e.message ?? String(err));
  try {
    return (JSON.parse(body) as { message?: string }).message ?? body;
  } catch {
    return body;
  }
}

function condition(obj: Manifest, type: string): { status: string; reason: string; message: string } | undefined {
  return obj.status?.conditions?.find((c) => c.type === type);
}

beforeAll(async () => {
  if (!clusterAvailable()) throw new Error('no cluster: run `make cluster-up` (or set KUBECONFIG)');
  const applied = await run(kubectl, ['--kubeconfig', path.join(root, '.devcluster/kubeconfig'), 'apply', '--server-side', '--force-conflicts', '-f', path.join(root, 'crds')]);
  if (applied.code !== 0) throw new Error(`applying crds/ failed: ${applied.stderr}`);
  await run(kubectl, ['--kubeconfig', path.join(root, '.devcluster/kubeconfig'), 'wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  await core.createNamespace({ body: { metadata: { name: on } } });
  await core.createNamespace({ body: { metadata: { name: off } } });
  cp = await startControlPlane({ namespace: on, validatingConfig: hookName });
  // No caBundle here: Trellis writes it.
  await admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name: hookName },
      webhooks: [
        {
          name: 'validation.networking.trellis.io',
          clientConfig: { url: `${cp.webhookUrl}/validate` },
          rules: [
            { apiGroups: ['networking.istio.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: Object.keys(PLURAL).filter((k) => groupOf(k) === 'networking.istio.io').map((k) => PLURAL[k]) },
            { apiGroups: ['security.istio.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [PLURAL.PeerAuthentication, PLURAL.AuthorizationPolicy, PLURAL.RequestAuthentication] },
            { apiGroups: ['telemetry.istio.io'], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [PLURAL.Telemetry] },
          ],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': on } },
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
        },
      ],
    },
  });
});

afterAll(async () => {
  await admission.deleteValidatingWebhookConfiguration({ name: hookName }).catch(() => undefined);
  if (cp) expect(await cp.stop()).toBe(0);
  await core.deleteNamespace({ name: on }).catch(() => undefined);
  await core.deleteNamespace({ name: off }).catch(() => undefined);
});

test('Trellis writes its CA into the webhook configuration', async () => {
  const cfg = await waitFor('caBundle', async () => {
    const c = await admission.readValidatingWebhookConfiguration({ name: hookName });
    return c.webhooks?.[0].clientConfig.caBundle ? c : undefined;
  });
  expect(Buffer.from(String(cfg.webhooks?.[0].clientConfig.caBundle), 'base64').toString()).toContain('BEGIN CERTIFICATE');
});

test(`every valid example (${valid.length}) applies unchanged and is reconciled Accepted=True`, async () => {
  expect(valid.length).toBeGreaterThanOrEqual(20);
  // The webhook must be live first, or this would not prove it lets valid objects through.
  await waitFor('caBundle', async () => !!(await admission.readValidatingWebhookConfiguration({ name: hookName })).webhooks?.[0].clientConfig.caBundle);
  for (const { file, obj } of valid) {
    try {
      await create(obj, on);
    } catch (err) {
      throw new Error(`${file}: ${errorText(err)}`, { cause: err });
    }
  }
  for (const { file, obj } of valid) {
    const got = await waitFor(`${file} status`, async () => {
      const o = await read(obj.kind, on, obj.metadata.name);
      return condition(o, 'Accepted') ? o : undefined;
    });
    expect({ file, accepted: condition(got, 'Accepted')?.status, reconciled: condition(got, 'Reconciled')?.status }).toEqual({ file, accepted: 'True', reconciled: 'True' });
    expect(got.status?.observedGeneration).toBe(got.metadata.generation);
  }
  const model = await cp.configz();
  for (const { obj } of valid) expect(model.some((c) => c.kind === obj.kind && c.namespace === on && c.name === obj.metadata.name)).toBe(true);
});

test(`invalid manifests (${invalid.length}) are rejected by the webhook with the expected message`, async () => {
  expect(invalid.length).toBeGreaterThanOrEqual(60);
  const wrong: string[] = [];
  for (const { file, obj, expect: want } of invalid) {
    expect(want).toBeDefined();
    const expected = want!.replace(/ default\//, ` ${on}/`);
    try {
      await create(obj, on);
      wrong.push(`${file}: was accepted`);
    } catch (err) {
      const text = errorText(err);
      if (!text.includes(expected)) wrong.push(`${file}: want "${expected}", got ${text.slice(0, 400)}`);
    }
  }
  expect(wrong).toEqual([]);
});

test('with the webhook bypassed, invalid objects get Accepted=False and stay out of the model; the rest is intact', async () => {
  const created: { file: string; obj: Manifest; expected: string }[] = [];
  for (const { file, obj, expect: want } of invalid) {
    try {
      await create(obj, off);
      created.push({ file, obj, expected: want!.replace(/ default\//, ` ${off}/`) });
    } catch {
      // The CRD's schema rejects some mistakes before any webhook: nothing to bypass there.
    }
  }
  expect(created.length).toBeGreaterThanOrEqual(40);
  const wrong: string[] = [];
  for (const { file, obj, expected } of created) {
    const got = await waitFor(`${file} status`, async () => {
      const o = await read(obj.kind, off, obj.metadata.name);
      return condition(o, 'Accepted') ? o : undefined;
    });
    const acc = condition(got, 'Accepted');
    if (acc?.status !== 'False' || acc.reason !== 'Invalid' || !acc.message.includes(expected)) wrong.push(`${file}: ${JSON.stringify(acc)}`);
  }
  expect(wrong).toEqual([]);
  const model = await cp.configz();
  expect(model.filter((c) => c.namespace === off)).toEqual([]);
  for (const { obj } of valid) expect(model.some((c) => c.namespace === on && c.name === obj.metadata.name && c.kind === obj.kind)).toBe(true);
});

test('an invalid update keeps the last accepted generation in effect', async () => {
  const vs: Manifest = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'keep-last-good' },
    spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 50 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 50 }] }] },
  };
  await create(vs, off);
  await waitFor('accepted', async () => condition(await read('VirtualService', off, 'keep-last-good'), 'Accepted')?.status === 'True');
  await custom.patchNamespacedCustomObject(
    {
      group: 'networking.istio.io',
      version: 'v1',
      namespace: off,
      plural: 'virtualservices',
      name: 'keep-last-good',
      body: [
        { op: 'replace', path: '/spec/http/0/route/0/weight', value: 0 },
        { op: 'replace', path: '/spec/http/0/route/1/weight', value: 0 },
      ],
    },
  );
  const got = await waitFor('rejected update', async () => {
    const o = await read('VirtualService', off, 'keep-last-good');
    return o.status?.observedGeneration === 2 ? o : undefined;
  });
  expect(condition(got, 'Accepted')).toMatchObject({ status: 'False', reason: 'Invalid', message: `VirtualService ${off}/keep-last-good: spec.http[0].route: with several destinations at least one weight must be above 0 (weights are relative; a missing weight counts as 0)` });
  expect(condition(got, 'Reconciled')).toMatchObject({ status: 'False', reason: 'LastAcceptedInEffect' });
  const inModel = (await cp.configz()).find((c) => c.namespace === off && c.name === 'keep-last-good');
  expect(inModel?.generation).toBe(1);
});

test('a subset no DestinationRule defines is a warning condition, cleared when a rule defines it', async () => {
  const ns = off;
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'ratings' }, spec: { ports: [{ name: 'http', port: 9080 }], selector: { app: 'ratings' } } } });
  await create({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'ratings' }, spec: { host: 'ratings', subsets: [{ name: 'v1', labels: { version: 'v1' } }] } }, ns);
  await create({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'ratings' }, spec: { hosts: ['ratings'], http: [{ route: [{ destination: { host: 'ratings', subset: 'v3' } }] }] } }, ns);
  const warned = await waitFor('the warning', async () => {
    const o = await read('VirtualService', ns, 'ratings');
    return condition(o, 'Warnings')?.status === 'True' ? o : undefined;
  });
  expect(condition(warned, 'Accepted')?.status).toBe('True');
  expect(condition(warned, 'Warnings')?.message).toContain(`VirtualService ${ns}/ratings: spec.http[0].route[0].destination.subset: subset "v3" of host ratings.${ns}.svc.cluster.local is defined by no DestinationRule`);
  await custom.patchNamespacedCustomObject({ group: 'networking.istio.io', version: 'v1', namespace: ns, plural: 'destinationrules', name: 'ratings', body: [{ op: 'add', path: '/spec/subsets/-', value: { name: 'v3', labels: { version: 'v3' } } }] });
  await waitFor('the warning to clear', async () => condition(await read('VirtualService', ns, 'ratings'), 'Warnings')?.status === 'False');
});

test('a status someone else wrote over Trellis\'s is put back', async () => {
  await create({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'forged-status' }, spec: { hosts: ['forged'], http: [{ route: [{ destination: { host: 'forged' } }] }] } }, off);
  await waitFor('accepted', async () => condition(await read('VirtualService', off, 'forged-status'), 'Accepted')?.status === 'True');
  const forged = [{ type: 'Accepted', status: 'False', reason: 'Forged', message: 'not what Trellis said', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }];
  await custom.patchNamespacedCustomObjectStatus({ group: 'networking.istio.io', version: 'v1', namespace: off, plural: 'virtualservices', name: 'forged-status', body: [{ op: 'replace', path: '/status/conditions', value: forged }] });
  const back = await waitFor('the status put back', async () => {
    const o = await read('VirtualService', off, 'forged-status');
    return condition(o, 'Accepted')?.reason === 'Accepted' ? o : undefined;
  });
  expect(condition(back, 'Accepted')?.status).toBe('True');
  expect(back.status?.conditions?.some((c) => c.reason === 'Forged')).toBe(false);
});

test('no status write loop: an idle cluster makes no writes', async () => {
  // Let every pending status write land, then watch the counter stay put.
  const settled = await waitFor('status writes to settle', async () => {
    const a = await cp.metric('trellis_status_writes_total');
    await new Promise((r) => setTimeout(r, 2000));
    const b = await cp.metric('trellis_status_writes_total');
    return a === b && a > 0 ? b : undefined;
  });
  await new Promise((r) => setTimeout(r, 5000));
  expect(await cp.metric('trellis_status_writes_total')).toBe(settled);
});
