// Istio's own authorization translation cases (../shared/conformance/istio-authz-translation/
// builder, read at test time): the same policies for the same workload (namespace foo, labels
// app=httpbin version=v1) give the same Envoy RBAC filters, compared as protobuf messages (both
// sides encoded and decoded alike; repeated-field order matters, map order does not), as Istio's
// own test compares them. The CUSTOM cases' mesh configurations are rebuilt below from Istio's
// test, the trust-domain alias cases' bundles (meshConfig.trustDomain and trustDomainAliases)
// from its test cases. Every case of Istio's test is run.
import fs from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import type { AuthorizationPolicySpec } from '../../src/api/authorization-policy.js';
import { labelsMatch } from '../../src/model/labels.js';
import type { ExtensionProvider } from '../../src/api/mesh-config.js';
import { authorizationHttpFilters, authorizationNetworkFilters } from '../../src/translate/authz-chain.js';
import type { AuthorizationPolicyConfig } from '../../src/translate/authz-filters.js';
import { resolveProvider, type ResolvedProvider } from '../../src/model/extension-providers.js';
import { withTrustDomainBundle } from '../../src/model/trust-domains.js';
import { readable } from '../../src/xds/config-dump.js';
import { packAny } from '../../src/xds/protos.js';
import { fixturesDir } from '../fixtures/load.js';

const repo = path.resolve(fixturesDir, '../..');
const dir = path.resolve(repo, '../shared/conformance/istio-authz-translation/builder');

// The mesh configurations of Istio's CUSTOM cases (builder_test.go builds them in Go). The
// authorizer's Service is foo/my-custom-ext-authz, port 9000; nothing else resolves.
const SERVICE = 'my-custom-ext-authz.foo.svc.cluster.local';
const GRPC: ExtensionProvider = { name: 'default', envoyExtAuthzGrpc: { service: `foo/${SERVICE}`, port: 9000, timeout: '2ms', failOpen: true, statusOnError: '403', includeRequestBodyInCheck: { maxRequestBytes: 4096, allowPartialMessage: true } } };
const GRPC_NO_NAMESPACE: ExtensionProvider = { name: 'default', envoyExtAuthzGrpc: { service: SERVICE, port: 9000, failOpen: true, statusOnError: '403' } };
const headers = (first: string): string[] => [first, 'x-prefix-*', '*-suffix'];
const HTTP_PROVIDER: ExtensionProvider = {
  name: 'default',
  envoyExtAuthzHttp: {
    service: `foo/${SERVICE}`,
    port: 9000,
    timeout: '10s',
    pathPrefix: '/check',
    failOpen: true,
    statusOnError: '403',
    includeRequestHeadersInCheck: headers('x-custom-id'),
    includeAdditionalHeadersInCheck: { 'x-header-1': 'value-1', 'x-header-2': 'value-2' },
    includeRequestBodyInCheck: { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true },
    headersToUpstreamOnAllow: headers('Authorization'),
    headersToDownstreamOnDeny: headers('Set-cookie'),
    headersToDownstreamOnAllow: headers('Set-cookie'),
  },
};
const BAD_PROVIDER: ExtensionProvider = { name: 'default', envoyExtAuthzHttp: { service: 'foo/not-found', port: 999999, pathPrefix: 'check', statusOnError: '999' } };
const lookup = (service: string, port: number) => (service.replace(/^foo\//, '') === SERVICE && port === 9000 ? { host: SERVICE, cluster: `outbound|9000||${SERVICE}` } : undefined);
const providers = (...ps: ExtensionProvider[]): Map<string, ResolvedProvider> => new Map(ps.map((p) => [p.name, resolveProvider(p, lookup)]));

const HTTP_CASES: [name: string, input: string, outputs: string[], mesh?: Map<string, ResolvedProvider>][] = [
  ['allow-empty-rule', 'allow-empty-rule-in', ['allow-empty-rule-out']],
  ['allow-full-rule', 'allow-full-rule-in', ['allow-full-rule-out']],
  ['allow-nil-rule', 'allow-nil-rule-in', ['allow-nil-rule-out']],
  ['allow-path', 'allow-path-in', ['allow-path-out']],
  ['audit-full-rule', 'audit-full-rule-in', ['audit-full-rule-out']],
  ['deny-and-allow', 'deny-and-allow-in', ['deny-and-allow-out1', 'deny-and-allow-out2']],
  ['deny-empty-rule', 'deny-empty-rule-in', ['deny-empty-rule-out']],
  ['dry-run-allow', 'dry-run-allow-in', ['dry-run-allow-out']],
  ['dry-run-allow-and-deny', 'dry-run-allow-and-deny-in', ['dry-run-allow-and-deny-out1', 'dry-run-allow-and-deny-out2']],
  ['dry-run-mix', 'dry-run-mix-in', ['dry-run-mix-out']],
  ['multiple-policies', 'multiple-policies-in', ['multiple-policies-out']],
  ['single-policy', 'single-policy-in', ['single-policy-out']],
  ['trust-domains-field', 'trust-domains-in', ['trust-domains-out']],
  ['custom-grpc-provider', 'custom-simple-http-in', ['custom-grpc-provider-out1', 'custom-grpc-provider-out2'], providers(GRPC)],
  ['custom-grpc-provider-no-namespace', 'custom-simple-http-in', ['custom-grpc-provider-no-namespace-out1', 'custom-grpc-provider-no-namespace-out2'], providers(GRPC_NO_NAMESPACE)],
  ['custom-http-provider', 'custom-simple-http-in', ['custom-http-provider-out1', 'custom-http-provider-out2'], providers(HTTP_PROVIDER)],
  ['custom-bad-invalid-config', 'custom-simple-http-in', ['custom-bad-out'], providers(BAD_PROVIDER)],
  ['custom-bad-multiple-providers', 'custom-bad-multiple-providers-in', ['custom-bad-multiple-providers-out1', 'custom-bad-multiple-providers-out2'], providers(HTTP_PROVIDER)],
];
const TCP_CASES: [name: string, input: string, outputs: string[], mesh?: Map<string, ResolvedProvider>][] = [
  ['custom-both-http-tcp', 'custom-both-http-tcp-in', ['custom-both-http-tcp-out1', 'custom-both-http-tcp-out2'], providers(GRPC)],
  ['custom-only-http', 'custom-only-http-in', [], providers(HTTP_PROVIDER)],
  ['allow-both-http-tcp', 'allow-both-http-tcp-in', ['allow-both-http-tcp-out']],
  ['allow-only-http', 'allow-only-http-in', ['allow-only-http-out']],
  ['audit-both-http-tcp', 'audit-both-http-tcp-in', ['audit-both-http-tcp-out']],
  ['deny-both-http-tcp', 'deny-both-http-tcp-in', ['deny-both-http-tcp-out']],
  ['dry-run-mix', 'dry-run-mix-in', ['dry-run-mix-out']],
];
/** The trust-domain cases: [name, input, output, the bundle: trust domain first, then its aliases]. */
const ALIAS_CASES: [name: string, input: string, output: string, bundle: string[]][] = [
  ['trust-domain-one-alias', 'simple-policy-td-aliases-in', 'simple-policy-td-aliases-out', ['td1', 'cluster.local']],
  ['trust-domain-multiple-aliases', 'simple-policy-multiple-td-aliases-in', 'simple-policy-multiple-td-aliases-out', ['td1', 'cluster.local', 'some-td']],
  ['trust-domain-wildcard-in-principal', 'simple-policy-principal-with-wildcard-in', 'simple-policy-principal-with-wildcard-out', ['td1', 'foobar']],
  ['trust-domain-aliases-in-source-principal', 'td-aliases-source-principal-in', 'td-aliases-source-principal-out', ['new-td', 'old-td', 'some-trustdomain']],
];

test("every case of Istio's builder test is run here (22 HTTP, 7 TCP)", () => {
  expect(HTTP_CASES.length + ALIAS_CASES.length).toBe(22);
  expect(TCP_CASES.length).toBe(7);
});

const WORKLOAD = { app: 'httpbin', version: 'v1' };

function policies(kind: 'http' | 'tcp', input: string): AuthorizationPolicyConfig[] {
  const docs = fs
    .readFileSync(path.join(dir, kind, `${input}.yaml`), 'utf8')
    .split(/^---$/m)
    .filter((text) => /^\w/m.test(text))
    .map((text) => loadYaml(text)) as { metadata: { name: string; namespace: string; annotations?: Record<string, string> }; spec: AuthorizationPolicySpec }[];
  return docs
    .filter((d) => d?.spec && labelsMatch(d.spec.selector?.matchLabels ?? {}, WORKLOAD))
    .map((d) => ({ namespace: d.metadata.namespace, name: d.metadata.name, annotations: d.metadata.annotations ?? {}, spec: d.spec }));
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Istio's YAML (proto JSON: camelCase, Any as @type, wrappers as plain values) as our message objects. */
function fromProtoJson(v: unknown, parentKey = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => fromProtoJson(x, parentKey));
  if (typeof v !== 'object' || v === null) {
    if (parentKey === 'prefix_len') return { value: v };
    // A proto JSON Duration ("0.002s").
    if (parentKey === 'timeout' && typeof v === 'string') {
      const ns = BigInt(Math.round(Number(v.slice(0, -1)) * 1e9));
      return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
    }
    return v;
  }
  const o = v as Record<string, unknown>;
  if (typeof o['@type'] === 'string') {
    const { '@type': type, ...rest } = o;
    return packAny((type as string).replace('type.googleapis.com/', ''), fromProtoJson(rest) as object);
  }
  // Policy names (map keys) stay as they are.
  const keepKeys = parentKey === 'policies';
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [keepKeys ? k : snake(k), fromProtoJson(x, keepKeys ? '' : snake(k))]));
}

function expected(kind: 'http' | 'tcp', output: string): unknown {
  const golden = loadYaml(fs.readFileSync(path.join(dir, kind, `${output}.yaml`), 'utf8'));
  return readable(fromProtoJson(golden));
}

describe.each([
  ['http', HTTP_CASES],
  ['tcp', TCP_CASES],
] as const)('Istio\'s %s builder cases', (kind, cases) => {
  // A rest parameter: jest would take a fourth named parameter for a done callback.
  test.each(cases)('%s', (...[, input, outputs, mesh]) => {
    const ps = policies(kind, input);
    const filters = kind === 'http' ? authorizationHttpFilters(ps, mesh) : authorizationNetworkFilters(ps, mesh);
    expect(filters.map((f) => readable(f))).toEqual(outputs.map((o) => expected(kind, o)));
  });
});

describe("Istio's trust-domain alias cases (meshConfig.trustDomainAliases)", () => {
  test.each(ALIAS_CASES)('%s', (...[, input, output, bundle]) => {
    const ps = policies('http', input).map((p) => ({ ...p, spec: withTrustDomainBundle(p.spec, bundle) }));
    expect(authorizationHttpFilters(ps).map((f) => readable(f))).toEqual([expected('http', output)]);
  });
});
