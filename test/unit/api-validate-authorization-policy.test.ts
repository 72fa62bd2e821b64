// AuthorizationPolicy validation: Istio's rules (its webhook's, its CRD schema's and
// pkg/config/security's value checks), each broken rule named by field path, and the same verdict
// from the admission webhook's handler.
import { validationErrors, validateManifest } from '../../src/api/validate.js';
import { pathTemplateProblem } from '../../src/api/validate-authorization-policy.js';
import { validateAdmission } from '../../src/webhooks/validation.js';
import type { AdmissionRequest } from '../../src/webhooks/admission.js';

const check = (spec: unknown, annotations?: Record<string, string>): string[] =>
  validationErrors('AuthorizationPolicy', 'shop', 'p', spec, annotations).map((e) => `${e.path}: ${e.message}`);

const from = (source: unknown): unknown => ({ rules: [{ from: [{ source }] }] });
const to = (operation: unknown): unknown => ({ rules: [{ to: [{ operation }] }] });
const when = (...conditions: unknown[]): unknown => ({ rules: [{ when: conditions }] });

describe('AuthorizationPolicy actions', () => {
  test('an empty spec (allow nothing), ALLOW without rules, DENY and CUSTOM with an empty rule are valid', () => {
    expect(check({})).toEqual([]);
    expect(check({ action: 'ALLOW' })).toEqual([]);
    expect(check({ action: 'AUDIT' })).toEqual([]);
    expect(check({ action: 'DENY', rules: [{}] })).toEqual([]);
    expect(check({ action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{}] })).toEqual([]);
  });

  test('the action is one of Istio\'s', () => {
    expect(check({ action: 'REJECT' })).toEqual(['spec.action: must be one of ALLOW, DENY, AUDIT, CUSTOM, got "REJECT"']);
    expect(check({ action: 'allow' })).toHaveLength(1);
  });

  test('DENY and CUSTOM need rules (an empty list is no rules, as in Istio)', () => {
    const message = (action: string): string => `spec.rules: action ${action} without rules never applies; add an empty rule {} to apply it to every request`;
    expect(check({ action: 'DENY' })).toEqual([message('DENY')]);
    expect(check({ action: 'DENY', rules: [] })).toEqual([message('DENY')]);
    expect(check({ action: 'CUSTOM', provider: { name: 'x' } })).toEqual([message('CUSTOM')]);
  });

  test('CUSTOM needs a provider name; only CUSTOM takes a provider', () => {
    expect(check({ action: 'CUSTOM', rules: [{}] })).toEqual(['spec.provider.name: required: action CUSTOM needs the name of an extension provider of the mesh config']);
    expect(check({ action: 'CUSTOM', provider: { name: '' }, rules: [{}] })).toEqual([
      'spec.provider.name: must not be empty: action CUSTOM needs the name of an extension provider of the mesh config, got ""',
    ]);
    expect(check({ action: 'ALLOW', provider: { name: 'x' }, rules: [{}] })).toEqual(['spec.provider: only action CUSTOM takes a provider, got action "ALLOW"']);
    expect(check({ provider: {} })).toEqual(['spec.provider: only action CUSTOM takes a provider, got action "ALLOW"']);
  });

  test('CUSTOM cannot match on identities: principals, namespaces, service accounts, trust domains, request.auth.*', () => {
    const spec = {
      action: 'CUSTOM',
      provider: { name: 'x' },
      rules: [{ from: [{ source: { namespaces: ['a'], ipBlocks: ['10.0.0.0/8'] } }], when: [{ key: 'request.auth.claims[group]', values: ['g'] }, { key: 'request.headers[x]', values: ['v'] }] }],
    };
    expect(check(spec)).toEqual([
      'spec.rules[0].from[0].source.namespaces: not supported with action CUSTOM (the external authorizer decides on identities)',
      'spec.rules[0].when[0].key: "request.auth.claims[group]" is not supported with action CUSTOM (the external authorizer decides on identities)',
    ]);
  });

  test('istio.io/dry-run: true or false (Go\'s booleans), on ALLOW and DENY policies only', () => {
    const path = 'metadata.annotations[istio.io/dry-run]';
    expect(check({}, { 'istio.io/dry-run': 'true' })).toEqual([]);
    expect(check({ action: 'DENY', rules: [{}] }, { 'istio.io/dry-run': 'False' })).toEqual([]);
    expect(check({ action: 'ALLOW' }, { 'istio.io/dry-run': '1' })).toEqual([]);
    expect(check({ action: 'ALLOW' }, { 'istio.io/dry-run': 'yes' })).toEqual([`${path}: must be "true" or "false", got "yes"`]);
    expect(check({ action: 'AUDIT' }, { 'istio.io/dry-run': 'true' })).toEqual([`${path}: only policies with action ALLOW or DENY can be a dry run, got action AUDIT`]);
  });
});

describe('AuthorizationPolicy selector and targets', () => {
  test('one of selector, targetRef, targetRefs', () => {
    const ref = { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' };
    expect(check({ targetRef: ref })).toEqual([]);
    expect(check({ targetRefs: [ref, { kind: 'Service', name: 'web' }] })).toEqual([]);
    expect(check({ selector: { matchLabels: { app: 'a' } }, targetRef: ref, targetRefs: [ref] })).toEqual([
      'spec.targetRef: cannot be set together with selector: set only one of selector, targetRef and targetRefs',
      'spec.targetRefs: cannot be set together with selector: set only one of selector, targetRef and targetRefs',
    ]);
  });

  test('a target is a Service, ServiceEntry, Gateway or GatewayClass of the policy\'s namespace, by name', () => {
    expect(check({ targetRef: { group: 'networking.istio.io', kind: 'ServiceEntry', name: 'se' } })).toEqual([]);
    expect(check({ targetRef: { group: 'core', kind: 'Service', name: 'web' } })).toEqual([]);
    expect(check({ targetRef: { group: 'apps', kind: 'Deployment', name: 'web' } })).toEqual([
      'spec.targetRef.kind: a policy can target only core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass; got apps/Deployment',
    ]);
    expect(check({ targetRef: { kind: 'Service', name: 'web', namespace: 'other' } })).toEqual([
      'spec.targetRef.namespace: must not be set: a policy can target only objects of its own namespace, got "other"',
    ]);
    expect(check({ targetRefs: [{ kind: 'Service' }] })).toEqual(['spec.targetRefs[0].name: required: the name of the target']);
    expect(check({ targetRef: { group: 'Bad_Group', kind: 'Service', name: 'x' } })).toEqual([
      'spec.targetRef.group: must be an API group (a lower-case DNS name of at most 253 characters) or "" for core, got "Bad_Group"',
    ]);
    expect(check({ targetRef: { name: 'x' } })).toEqual(['spec.targetRef.kind: required: the kind of the target, e.g. Service or Gateway']);
    const many = Array.from({ length: 17 }, (_, i) => ({ kind: 'Service', name: `s${i}` }));
    expect(check({ targetRefs: many })).toEqual(['spec.targetRefs: at most 16 target references, got 17']);
  });

  test('selector labels: no empty key, no wildcard (PeerAuthentication\'s rules)', () => {
    expect(check({ selector: { matchLabels: { app: 'web-*' } } })).toEqual(['spec.selector.matchLabels[app]: wildcard "*" is not allowed in a label value, got "web-*"']);
    expect(check({ selector: {} })).toEqual([]);
  });
});

describe('AuthorizationPolicy sources and operations', () => {
  test('a from entry needs a non-empty source; a to entry a non-empty operation', () => {
    expect(check({ rules: [{ from: [{}] }] })).toEqual(['spec.rules[0].from[0].source: required: each from entry needs a source']);
    expect(check(from({}))).toEqual([
      'spec.rules[0].from[0].source: must set at least one of principals, notPrincipals, requestPrincipals, notRequestPrincipals, namespaces, notNamespaces, ipBlocks, notIpBlocks, remoteIpBlocks, notRemoteIpBlocks, serviceAccounts, notServiceAccounts, trustDomains, notTrustDomains',
    ]);
    expect(check({ rules: [{ to: [{}] }] })).toEqual(['spec.rules[0].to[0].operation: required: each to entry needs an operation']);
    expect(check(to({ methods: [] }))).toEqual(['spec.rules[0].to[0].operation: must set at least one of hosts, notHosts, ports, notPorts, methods, notMethods, paths, notPaths']);
    // Empty from/to lists are no lists (Istio's decoder drops them).
    expect(check({ rules: [{ from: [], to: [] }] })).toEqual([]);
  });

  test('no empty values, anywhere', () => {
    expect(check(from({ principals: ['cluster.local/ns/a/sa/b', ''] }))).toEqual(['spec.rules[0].from[0].source.principals[1]: must not be empty']);
    expect(check(to({ hosts: [''], notMethods: ['GET', ''] }))).toEqual([
      'spec.rules[0].to[0].operation.hosts[0]: must not be empty',
      'spec.rules[0].to[0].operation.notMethods[1]: must not be empty',
    ]);
  });

  test('IP blocks are addresses or CIDR blocks, ports numbers 0-65535', () => {
    expect(check(from({ ipBlocks: ['10.1.2.3', '10.0.0.0/8', '2001:db8::/32'], notRemoteIpBlocks: ['::1'] }))).toEqual([]);
    expect(check(from({ ipBlocks: ['10.0.0.0/33', '1.2.3.04', 'host'] }))).toEqual([
      'spec.rules[0].from[0].source.ipBlocks[0]: invalid CIDR block "10.0.0.0/33": use an address and a prefix length, e.g. 10.0.0.0/16',
      'spec.rules[0].from[0].source.ipBlocks[1]: invalid IP address "1.2.3.04"',
      'spec.rules[0].from[0].source.ipBlocks[2]: invalid IP address "host"',
    ]);
    expect(check(to({ ports: ['0', '8080', '65535'] }))).toEqual([]);
    expect(check(to({ ports: ['65536'], notPorts: ['http'] }))).toEqual([
      'spec.rules[0].to[0].operation.ports[0]: must be a port number between 0 and 65535, got "65536"',
      'spec.rules[0].to[0].operation.notPorts[0]: must be a port number between 0 and 65535, got "http"',
    ]);
  });

  test('service accounts: sa or ns/sa, no wildcard, at most 16, never with principals or namespaces', () => {
    expect(check(from({ serviceAccounts: ['sa', 'ns/sa'], notServiceAccounts: ['other/sa'] }))).toEqual([]);
    expect(check(from({ serviceAccounts: ['a/b/c', 'ns/*', '/sa', 'ns/'] }))).toEqual([
      'spec.rules[0].from[0].source.serviceAccounts[0]: use <serviceAccount> or <namespace>/<serviceAccount>, got "a/b/c"',
      'spec.rules[0].from[0].source.serviceAccounts[1]: wildcard "*" is not allowed in a service account, got "ns/*"',
      'spec.rules[0].from[0].source.serviceAccounts[2]: empty namespace: use <serviceAccount> or <namespace>/<serviceAccount>, got "/sa"',
      'spec.rules[0].from[0].source.serviceAccounts[3]: empty service account: use <serviceAccount> or <namespace>/<serviceAccount>, got "ns/"',
    ]);
    expect(check(from({ serviceAccounts: Array.from({ length: 17 }, (_, i) => `sa${i}`) }))).toEqual(['spec.rules[0].from[0].source.serviceAccounts: at most 16 strings, got 17']);
    expect(check(from({ serviceAccounts: ['x'.repeat(321)] }))).toEqual(['spec.rules[0].from[0].source.serviceAccounts[0]: must be at most 320 characters, got 321']);
    expect(check(from({ notServiceAccounts: ['ns/sa'], principals: ['p'] }))).toEqual([
      'spec.rules[0].from[0].source: cannot set serviceAccounts or notServiceAccounts with principals or namespaces (they overlap), got notServiceAccounts and principals',
    ]);
  });

  test('trust domains: the domain alone, with Istio\'s wildcards (exact, *, prefix*, *suffix)', () => {
    expect(check(from({ trustDomains: ['cluster.local', 'td-*', '*-td', '*'], notTrustDomains: ['other.example'] }))).toEqual([]);
    expect(check(from({ trustDomains: ['spiffe://cluster.local', 'cluster.local/ns/a', 'a*b', '**'] }))).toEqual([
      'spec.rules[0].from[0].source.trustDomains[0]: give the trust domain without "spiffe://", e.g. cluster.local, got "spiffe://cluster.local"',
      'spec.rules[0].from[0].source.trustDomains[1]: a trust domain has no "/" (give the domain alone, e.g. cluster.local), got "cluster.local/ns/a"',
      'spec.rules[0].from[0].source.trustDomains[2]: a wildcard "*" is allowed only at the start or the end (exact, *, prefix* or *suffix), got "a*b"',
      'spec.rules[0].from[0].source.trustDomains[3]: at most one wildcard "*" is allowed (exact, *, prefix* or *suffix), got "**"',
    ]);
  });

  test('path templates: {*} and {**} as whole segments, {**} last, literal segments of RFC 3986 pchars', () => {
    for (const ok of ['/exact', '/prefix/*', '*/suffix', '*', '/foo/{*}/bar', '/foo/{**}', '/foo/{**}/bar', '/{*}/a=c', '/{*}/-._~%20!$&\'()+,;:@', '/{*}/foo/']) {
      expect({ ok, problem: pathTemplateProblem(ok) }).toEqual({ ok, problem: undefined });
    }
    expect(pathTemplateProblem('/{**}/{*}')).toBe('invalid path template "/{**}/{*}": {**} must be the last operator (no {*} or {**} after it)');
    expect(pathTemplateProblem('/foo/{name}')).toBe('invalid path "/foo/{name}": "{" and "}" are allowed only as the whole-segment templates {*} and {**}');
    expect(pathTemplateProblem('/{*}/a*')).toBe(
      'invalid path template "/{*}/a*": segment "a*" may contain only letters, digits and -._~%!$&\'()+,;:@= (no *, ? or empty segments)',
    );
    expect(check(to({ notPaths: ['/{*}.txt'] }))).toEqual([
      'spec.rules[0].to[0].operation.notPaths[0]: invalid path "/{*}.txt": "{" and "}" are allowed only as the whole-segment templates {*} and {**}',
    ]);
  });

  test('at most 512 rules and 512 sources per rule (the CRD\'s limits)', () => {
    expect(check({ rules: Array.from({ length: 513 }, () => ({})) })).toEqual(['spec.rules: at most 512 rules, got 513']);
    expect(check({ rules: [{ from: Array.from({ length: 513 }, () => ({ source: { namespaces: ['a'] } })) }] })).toEqual(['spec.rules[0].from: at most 512 sources, got 513']);
  });
});

describe('AuthorizationPolicy conditions (when)', () => {
  test('a key and values or notValues', () => {
    expect(check(when({ values: ['a'] }))).toEqual(['spec.rules[0].when[0].key: required: the name of an Istio attribute, e.g. request.headers[x-token] or source.ip']);
    expect(check(when({ key: 'source.principal' }))).toEqual(['spec.rules[0].when[0]: must set values or notValues for key "source.principal"']);
    expect(check(when({ key: 'source.principal', notValues: ['a', ''] }))).toEqual(['spec.rules[0].when[0].notValues[1]: must not be empty']);
  });

  test('the attributes Istio knows, with their value rules', () => {
    const good = [
      { key: 'request.headers[x-user]', values: ['a*'] },
      { key: 'request.experimental.inline.headers[x]', values: ['a'] },
      { key: 'source.ip', values: ['1.2.3.4', '10.0.0.0/8'] },
      { key: 'remote.ip', notValues: ['::1'] },
      { key: 'destination.ip', values: ['10.0.0.1'] },
      { key: 'destination.port', values: ['80'] },
      { key: 'source.namespace', values: ['ns-*'] },
      { key: 'source.principal', values: ['*'] },
      { key: 'source.serviceAccount', values: ['ns/sa'] },
      { key: 'source.trustDomain', values: ['*.local'] },
      { key: 'request.auth.principal', values: ['iss/sub'] },
      { key: 'request.auth.audiences', values: ['a'] },
      { key: 'request.auth.presenter', values: ['a'] },
      { key: 'request.auth.claims[groups]', values: ['a'] },
      { key: 'connection.sni', values: ['*.example.com'] },
      { key: 'experimental.envoy.filters.network.mysql_proxy[db.table]', values: ['[update]'] },
    ];
    expect(check(when(...good))).toEqual([]);
  });

  test('unknown, replaced and malformed attribute keys are named', () => {
    expect(check(when({ key: 'source.user', values: ['a'] }))).toEqual([expect.stringMatching(/^spec\.rules\[0\]\.when\[0\]\.key: unknown attribute "source\.user": use request\.headers/)]);
    expect(check(when({ key: 'destination.labels[app]', values: ['a'] }))).toEqual([
      'spec.rules[0].when[0].key: attribute destination.labels[app] is replaced by the workload selector (spec.selector)',
    ]);
    expect(check(when({ key: 'destination.namespace', values: ['a'] }))).toEqual([
      'spec.rules[0].when[0].key: attribute destination.namespace is replaced by the policy\'s own namespace (metadata.namespace)',
    ]);
    expect(check(when({ key: 'request.headers[]', values: ['a'] }))).toEqual([
      'spec.rules[0].when[0].key: malformed key "request.headers[]": use the form name[key], e.g. request.headers[x-token]',
    ]);
    expect(check(when({ key: 'source.ip', values: ['a.b.c.d'] }, { key: 'destination.port', notValues: ['x'] }))).toEqual([
      'spec.rules[0].when[0].values[0]: invalid IP address "a.b.c.d"',
      'spec.rules[0].when[1].notValues[0]: must be a port number between 0 and 65535, got "x"',
    ]);
    expect(check(when({ key: 'source.trustDomain', values: ['a*b'] }))).toEqual([
      'spec.rules[0].when[0].values[0]: a wildcard "*" is allowed only at the start or the end (exact, *, prefix* or *suffix), got "a*b"',
    ]);
  });
});

describe('AuthorizationPolicy input of the wrong shape', () => {
  test('malformed input yields errors, never an exception', () => {
    const weird: unknown[] = [
      { action: 7 },
      { rules: {} },
      { rules: [null] },
      { rules: ['x'] },
      { rules: [{ from: 'x' }] },
      { rules: [{ from: [null] }] },
      { rules: [{ from: [{ source: [] }] }] },
      { rules: [{ from: [{ source: { principals: 'p' } }] }] },
      { rules: [{ from: [{ source: { principals: [3] } }] }] },
      { rules: [{ to: [{ operation: 'op' }] }] },
      { rules: [{ to: [{ operation: { ports: [80] } }] }] },
      { rules: [{ when: [null] }] },
      { rules: [{ when: [{ key: 5, values: ['a'] }] }] },
      { rules: [{ when: [{ key: 'source.ip', values: 'a' }] }] },
      { selector: 'x' },
      { targetRef: 'x' },
      { targetRef: { kind: 3, name: [] } },
      { targetRefs: {} },
      { provider: 'x', action: 'CUSTOM', rules: [{}] },
      { action: 'CUSTOM', provider: { name: 4 }, rules: [{}] },
    ];
    for (const spec of weird) {
      expect(() => check(spec)).not.toThrow();
      expect({ spec, errors: check(spec).length > 0 }).toEqual({ spec, errors: true });
    }
    expect(check({ rules: [{ from: [{ source: { principals: [3] } }] }] })).toEqual(['spec.rules[0].from[0].source.principals[0]: must be a string, got a number (3)']);
    expect(check({ rules: {} })).toEqual(['spec.rules: must be a list of rules, got an object']);
  });
});

describe('validateManifest() and the webhook for AuthorizationPolicy', () => {
  const manifest = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'deny-all', namespace: 'shop' },
    spec: { action: 'DENY' },
  };

  test('names the object, the field and the rule; v1beta1 too', () => {
    expect(validateManifest(manifest)?.messages).toEqual([
      'AuthorizationPolicy shop/deny-all: spec.rules: action DENY without rules never applies; add an empty rule {} to apply it to every request',
    ]);
    expect(validateManifest({ ...manifest, apiVersion: 'security.istio.io/v1beta1', spec: { action: 'DENY', rules: [{}] } })?.messages).toEqual([]);
  });

  const request = (object: unknown): AdmissionRequest => ({ uid: 'u1', kind: { group: 'security.istio.io', version: 'v1', kind: 'AuthorizationPolicy' }, operation: 'CREATE', namespace: 'shop', object });

  test('the webhook denies an invalid one with the same message, and allows a valid one and a dry run', () => {
    expect(validateAdmission(request(manifest))).toEqual({ uid: 'u1', allowed: false, status: { code: 422, reason: 'Invalid', message: validateManifest(manifest)!.messages[0] } });
    expect(validateAdmission(request({ ...manifest, spec: { action: 'DENY', rules: [{}] } }))).toEqual({ uid: 'u1', allowed: true });
    const dryRun = { ...manifest, metadata: { ...manifest.metadata, annotations: { 'istio.io/dry-run': 'true' } }, spec: {} };
    expect(validateAdmission(request(dryRun))).toEqual({ uid: 'u1', allowed: true });
  });
});
