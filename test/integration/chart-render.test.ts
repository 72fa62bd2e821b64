// The Helm chart as helm itself sees it: lint, golden `helm template` output, and the policy
// over the rendered manifests. Uses the real helm binary (the devcluster's pinned one, or $HELM).
// Regenerate the golden files after an intended change: UPDATE_GOLDEN=1 npx jest chart-render
import fs from 'node:fs';
import path from 'node:path';
import { root, run } from '../support/cluster.js';
import { DASHBOARD_FILE } from '../support/grafana-dashboard.js';
import { chartDir, helm, parse, podSpecOf, policyViolations, template, type Manifest } from '../fixtures/chart/chart.js';

const goldenDir = path.join(root, 'test/fixtures/chart');

// Every value combination the chart's templates branch on.
const VARIANTS: Record<string, string[]> = {
  default: [],
  full: ['--set', 'gateway.enabled=true', '--set', 'replicas=3', '--set', 'gateway.serviceType=ClusterIP', '--set', 'grafana.dashboard.enabled=true'],
};

const find = (docs: Manifest[], kind: string, name: string): Manifest => {
  const m = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (!m) throw new Error(`no ${kind} ${name} in the rendered chart: ${docs.map((d) => `${d.kind}/${d.metadata.name}`).join(', ')}`);
  return m;
};

test('helm lint --strict passes, with the defaults and with every option on', async () => {
  for (const args of Object.values(VARIANTS)) {
    const r = await run(helm, ['lint', '--strict', chartDir, ...args]);
    expect({ code: r.code, out: r.stdout }).toEqual({ code: 0, out: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed') });
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR|INFO)\]/);
  }
});

test.each(Object.keys(VARIANTS))('helm template (%s values) matches its golden file', async (variant) => {
  const out = await template(VARIANTS[variant]);
  const file = path.join(goldenDir, `${variant}.golden.yaml`);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, out);
  if (!fs.existsSync(file)) throw new Error(`no golden file ${path.relative(root, file)}: run with UPDATE_GOLDEN=1 to create it`);
  expect(out).toBe(fs.readFileSync(file, 'utf8'));
});

test.each(Object.keys(VARIANTS))('the rendered chart (%s values) meets the policy: no RBAC wildcard, hardened containers, a caBundle source for every webhook', async (variant) => {
  const docs = parse(await template(VARIANTS[variant]));
  expect(docs.length).toBeGreaterThan(5);
  expect(policyViolations(docs)).toEqual([]);
});

test('the policy check catches a wildcard, a bare container and an unmanaged webhook', () => {
  const bad = parse(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: greedy}
rules: [{apiGroups: ["*"], resources: [pods], verbs: [get]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: x}
spec: {template: {spec: {containers: [{name: c, image: i, args: ["--validating-webhook-config=other"]}]}}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: lonely}
webhooks: [{name: a.b.c, clientConfig: {service: {name: s, namespace: x}}}]
`);
  expect(policyViolations(bad)).toEqual([
    'ClusterRole greedy: rules[0].apiGroups: wildcard "*" (least privilege: name exactly what is used)',
    'Deployment x/app: container c: no securityContext',
    'ValidatingWebhookConfiguration lonely: webhook a.b.c: no caBundle source (neither inline nor --validating-webhook-config=lonely in a Deployment\'s args)',
  ]);
});

test('CRDs come from crds/ (helm installs them; templates never render them)', async () => {
  const withCrds = parse(await template(['--include-crds']));
  const crds = withCrds.filter((d) => d.kind === 'CustomResourceDefinition').map((d) => d.metadata.name).sort();
  const files = fs.readdirSync(path.join(root, 'crds')).filter((f) => f.endsWith('.yaml'));
  expect(crds).toHaveLength(files.length);
  expect(crds).toEqual([
    'authorizationpolicies.security.istio.io',
    'destinationrules.networking.istio.io',
    'gateways.networking.istio.io',
    'peerauthentications.security.istio.io',
    'requestauthentications.security.istio.io',
    'serviceentries.networking.istio.io',
    'sidecars.networking.istio.io',
    'telemetries.telemetry.istio.io',
    'virtualservices.networking.istio.io',
  ]);
  expect(parse(await template()).some((d) => d.kind === 'CustomResourceDefinition')).toBe(false);
});

test('cluster-scoped names carry the release namespace, so two installs never collide', async () => {
  const a = parse(await template([], { namespace: 'mesh-a' }));
  const b = parse(await template([], { namespace: 'mesh-b' }));
  const clusterScoped = (docs: Manifest[]): string[] => docs.filter((d) => !d.metadata.namespace).map((d) => `${d.kind}/${d.metadata.name}`);
  expect(clusterScoped(a).sort()).toEqual([
    'ClusterRole/trellis-mesh-a',
    'ClusterRoleBinding/trellis-mesh-a',
    'MutatingWebhookConfiguration/trellis-sidecar-injector-mesh-a',
    'ValidatingWebhookConfiguration/trellis-validator-mesh-a',
  ]);
  expect(clusterScoped(a).filter((n) => clusterScoped(b).includes(n))).toEqual([]);
  expect(a.filter((d) => d.metadata.namespace).every((d) => d.metadata.namespace === 'mesh-a')).toBe(true);
});

test('the PodDisruptionBudget keeps one control plane up when there are several, and never blocks a drain of a single one', async () => {
  const pdb = async (replicas: number): Promise<unknown> => (find(parse(await template(['--set', `replicas=${replicas}`])), 'PodDisruptionBudget', 'trellis').spec as Record<string, unknown>);
  expect(await pdb(1)).toMatchObject({ maxUnavailable: 1 });
  expect(await pdb(1)).not.toHaveProperty('minAvailable');
  expect(await pdb(3)).toMatchObject({ minAvailable: 1 });
  expect(await pdb(3)).not.toHaveProperty('maxUnavailable');
  const selector = ((await pdb(3)) as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
  const docs = parse(await template());
  expect((find(docs, 'Deployment', 'trellis').spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels).toMatchObject(selector);
  expect(parse(await template(['--set', 'podDisruptionBudget.enabled=false'])).some((d) => d.kind === 'PodDisruptionBudget')).toBe(false);
});

test('the ingress gateway is off by default; on, it is the proxy image as a router with the sidecar identity env, behind 80 and 443', async () => {
  expect(parse(await template()).some((d) => d.metadata.name === 'trellis-ingressgateway')).toBe(false);
  const docs = parse(await template(['--set', 'gateway.enabled=true', '--set', 'proxy.image=example.com/proxy:1.2'], { namespace: 'edge' }));
  const dep = find(docs, 'Deployment', 'trellis-ingressgateway');
  const tpl = (dep.spec as { template: { metadata: { labels: Record<string, string> } } }).template;
  expect(tpl.metadata.labels).toMatchObject({ app: 'trellis-ingressgateway', istio: 'ingressgateway', 'sidecar.istio.io/inject': 'false' });
  // Prometheus scrapes it at the agent, as Istio's gateways.
  expect((tpl.metadata as { annotations?: Record<string, string> }).annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' });
  const [c] = podSpecOf(dep)!.containers as unknown as { image: string; env: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[] }[];
  expect(c.image).toBe('example.com/proxy:1.2');
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value ?? `fieldRef:${e.valueFrom?.fieldRef.fieldPath}`]));
  expect(env).toEqual({
    TRELLIS_PROXY_TYPE: 'router',
    POD_NAME: 'fieldRef:metadata.name',
    POD_NAMESPACE: 'fieldRef:metadata.namespace',
    INSTANCE_IP: 'fieldRef:status.podIP',
    SERVICE_ACCOUNT: 'fieldRef:spec.serviceAccountName',
    TRELLIS_DISCOVERY_ADDRESS: 'trellis.edge.svc:15012',
    TRELLIS_CLUSTER_DOMAIN: 'cluster.local',
    TRELLIS_TRUST_DOMAIN: 'cluster.local',
    TRELLIS_TOKEN_FILE: '/var/run/secrets/tokens/istio-token',
    TRELLIS_ROOT_CERT: '/var/run/secrets/istio/root-cert.pem',
    TRELLIS_SDS_SOCKET: '/var/run/secrets/workload-spiffe-uds/socket',
  });
  const svc = find(docs, 'Service', 'trellis-ingressgateway');
  const spec = svc.spec as { type: string; selector: Record<string, string>; ports: { port: number; targetPort: number }[] };
  expect(spec.type).toBe('LoadBalancer');
  expect(spec.selector).toEqual({ app: 'trellis-ingressgateway', istio: 'ingressgateway' });
  expect(spec.ports.map((p) => p.port)).toEqual(expect.arrayContaining([80, 443]));
  // The control plane's own sidecar injection and discovery address agree with the gateway's.
  const args = podSpecOf(find(docs, 'Deployment', 'trellis'))!.containers[0].args;
  expect(args).toEqual(expect.arrayContaining(['--proxy-image=example.com/proxy:1.2', '--discovery-address=trellis.edge.svc:15012']));
});

test('the control plane pods are scraped on the monitoring port, as istiod\'s', async () => {
  const dep = find(parse(await template()), 'Deployment', 'trellis');
  expect((dep.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15014' });
  const [c] = podSpecOf(dep)!.containers as unknown as { ports: { name: string; containerPort: number }[] }[];
  expect(c.ports).toContainEqual({ name: 'http-monitoring', containerPort: 15014 });
});

test('the Grafana dashboard ConfigMap is off by default; on, it carries the label Grafana\'s sidecar watches and the dashboard file as it is', async () => {
  expect(parse(await template()).some((d) => d.metadata.name === 'trellis-grafana-dashboard')).toBe(false);
  const cm = find(parse(await template(['--set', 'grafana.dashboard.enabled=true'])), 'ConfigMap', 'trellis-grafana-dashboard');
  expect(cm.metadata.namespace).toBe('trellis-system');
  expect(cm.metadata.labels).toMatchObject({ grafana_dashboard: '1', 'app.kubernetes.io/name': 'trellis' });
  const data = cm.data as Record<string, string>;
  expect(Object.keys(data)).toEqual(['trellis-mesh.json']);
  expect(JSON.parse(data['trellis-mesh.json'])).toEqual(JSON.parse(fs.readFileSync(DASHBOARD_FILE, 'utf8')));
  // The label, its value, annotations (a folder) and the namespace follow the sidecar's settings.
  const custom = find(parse(await template([
    '--set', 'grafana.dashboard.enabled=true', '--set', 'grafana.dashboard.labels.grafana_dashboard=null', '--set', 'grafana.dashboard.labels.dashboards=trellis',
    '--set', 'grafana.dashboard.annotations.grafana_folder=Mesh', '--set', 'grafana.dashboard.namespace=monitoring',
  ])), 'ConfigMap', 'trellis-grafana-dashboard');
  expect(custom.metadata.namespace).toBe('monitoring');
  expect(custom.metadata.labels).toMatchObject({ dashboards: 'trellis' });
  expect(custom.metadata.labels).not.toHaveProperty('grafana_dashboard');
  expect((custom.metadata as { annotations?: Record<string, string> }).annotations).toEqual({ grafana_folder: 'Mesh' });
});

test('the webhook certificate Secret belongs to the release (uninstall removes it); Trellis is told its name and may touch only it and the mesh CA Secrets', async () => {
  const docs = parse(await template());
  const secret = find(docs, 'Secret', 'trellis-webhook-tls');
  expect(secret.metadata.namespace).toBe('trellis-system');
  expect(secret).not.toHaveProperty('data'); // Trellis writes it; helm upgrade leaves it alone
  expect(podSpecOf(find(docs, 'Deployment', 'trellis'))!.containers[0].args).toContain('--cert-secret=trellis-webhook-tls');
  const rules = find(docs, 'Role', 'trellis').rules as { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
  expect(rules).toEqual([
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['trellis-webhook-tls', 'istio-ca-secret', 'trellis-ca-roots'], verbs: ['get', 'update'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: ['cacerts'], verbs: ['get'] },
  ]);
});

test('injection namespace labels: one webhook each, the first label wins when a namespace has both', async () => {
  const docs = parse(await template());
  const hooks = (find(docs, 'MutatingWebhookConfiguration', 'trellis-sidecar-injector-trellis-system').webhooks as { name: string; namespaceSelector: { matchExpressions: unknown[] } }[]);
  expect(hooks.map((h) => h.name)).toEqual(['trellis-injection.sidecar-injector.trellis.io', 'istio-injection.sidecar-injector.trellis.io']);
  expect(hooks[0].namespaceSelector.matchExpressions).toEqual([{ key: 'trellis-injection', operator: 'In', values: ['enabled'] }]);
  expect(hooks[1].namespaceSelector.matchExpressions).toEqual([
    { key: 'istio-injection', operator: 'In', values: ['enabled'] },
    { key: 'trellis-injection', operator: 'DoesNotExist' },
  ]);
});

test('values.schema.json rejects what the templates cannot use, naming the value', async () => {
  const cases: [string[], RegExp][] = [
    [['--set', 'replicas=0'], /\/replicas/],
    [['--set', 'webhooks.injection.failurePolicy=fail'], /\/webhooks\/injection\/failurePolicy/],
    [['--set', 'logLevel=verbose'], /\/logLevel/],
    [['--set', 'gateway.serviceType=External'], /\/gateway\/serviceType/],
    [['--set', 'gateway.enable=true'], /additional properties 'enable' not allowed/],
    [['--set', 'resources.requests.cpu=lots'], /\/resources\/requests\/cpu/],
    [['--set', 'grafana.dashboard.enabled=yes'], /\/grafana\/dashboard\/enabled/],
    [['--set', 'grafana.dashboard.namespace=Monitoring'], /\/grafana\/dashboard\/namespace/],
  ];
  for (const [args, message] of cases) {
    const r = await run(helm, ['template', 't', chartDir, ...args]);
    expect({ args, code: r.code }).toEqual({ args, code: 1 });
    expect(r.stderr).toMatch(message);
  }
});
