// Telemetry validation with Istio's rules: the access log filter must parse as CEL (Istio's webhook
// parses it with cel-go), provider names are required, one of selector and targetRef(s), tag
// overrides and the sampling percentage; and Istio's warnings on tracing.
import { celSyntaxProblem } from '../../src/api/cel-syntax.js';
import { validate } from '../../src/api/validate.js';
import type { AdmissionRequest } from '../../src/webhooks/admission.js';
import { validateAdmission } from '../../src/webhooks/validation.js';

const errors = (spec: unknown): string[] => {
  const v = validate('Telemetry', 'default', 't', spec);
  return v.ok ? [] : v.errors.map((e) => `${e.path}: ${e.message}`);
};

describe('CEL syntax of an access log filter', () => {
  test.each([
    'response.code >= 400',
    "(connection.mtls && request.headers['x-log-mtls'] == 'true') || request.url_path.contains('v1beta3')",
    'true',
    'response.code >= 500 ? true : request.method == "POST"',
    '[1, 2,][0] == 1 && {"a": 1}.a == 1',
    'google.protobuf.Int64Value{value: 1} == 1',
    'r"\\d+" + b\'x\' != "" // a comment',
    '-1 < 1u || !!false',
    'request.method in ["GET", "HEAD"]',
    '0x1F == 31 && 1.5e3 > .5',
    "'''multi\nline''' != ''",
  ])('%s parses', (expression) => {
    expect(celSyntaxProblem(expression)).toBeUndefined();
  });

  test.each([
    ['response.code >=', 'expected a name, got "end of expression" at column 17'],
    ['foo(', 'expected a name, got "end of expression" at column 5'],
    ['(a', 'expected ")", got "end of expression" at column 3'],
    ['a b', 'unexpected "b" at column 3'],
    ["'open", 'unterminated string at column 1'],
    ['if', 'expected a name, got "if" at column 1'],
    ['a # b', 'unexpected character "#" at column 3'],
    ['a ? b', 'expected ":", got "end of expression" at column 6'],
    ['', 'is empty'],
  ])('%s does not: %s', (expression, problem) => {
    expect(celSyntaxProblem(expression)).toBe(problem);
  });
});

describe('Telemetry rules', () => {
  test('an access log entry: provider names, a filter that parses, a known mode', () => {
    expect(errors({ accessLogging: [{ providers: [{ name: 'envoy' }], filter: { expression: 'response.code >= 400' }, match: { mode: 'SERVER' } }] })).toEqual([]);
    expect(errors({ accessLogging: [{ providers: [{}] }] })).toEqual(['spec.accessLogging[0].providers[0].name: may not be empty: the name of a provider of the mesh configuration (e.g. envoy)']);
    expect(errors({ accessLogging: [{ filter: { expression: 'a &&' } }] })).toEqual([
      'spec.accessLogging[0].filter.expression: must be a valid CEL expression (the access log filter Envoy evaluates), expected a name, got "end of expression" at column 5: "a &&"',
    ]);
    expect(errors({ accessLogging: [{ filter: {} }] })[0]).toMatch(/^spec.accessLogging\[0\].filter.expression: must be a valid CEL expression .*is empty/);
  });

  test('one of selector and targetRefs; a targetRef of a kind a policy can name', () => {
    expect(errors({ selector: { matchLabels: { app: 'a' } }, targetRef: { kind: 'Service', name: 's' } })).toEqual([
      'spec.targetRef: cannot be set together with selector: set only one of selector, targetRef and targetRefs',
    ]);
    expect(errors({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }] })).toEqual([]);
    expect(errors({ selector: { matchLabels: { '': 'x' } } })).toHaveLength(1);
  });

  test("metrics' tag overrides and tracing's sampling percentage", () => {
    expect(errors({ metrics: [{ overrides: [{ tagOverrides: { foo: { operation: 'REMOVE', value: 'oops' } } }] }] })).toEqual([
      'spec.metrics[0].overrides[0].tagOverrides[foo].value: may only be set when operation is UPSERT',
    ]);
    expect(errors({ metrics: [{ overrides: [{ match: { customMetric: '' } }] }] })).toEqual(['spec.metrics[0].overrides[0].match.customMetric: may not be empty']);
    expect(errors({ tracing: [{ randomSamplingPercentage: 101 }] })).toEqual(['spec.tracing[0].randomSamplingPercentage: must be in range [0.0, 100.0], got 101']);
  });

  test("Istio's warnings: one tracing entry and one provider are used", () => {
    const v = validate('Telemetry', 'default', 't', { tracing: [{ providers: [{ name: 'a' }, { name: 'b' }] }, {}] });
    expect(v.ok && v.warnings.map((w) => `${w.path}: ${w.message}`)).toEqual([
      'spec.tracing: multiple tracing is not currently supported',
      'spec.tracing[0].providers: multiple providers is not currently supported',
    ]);
  });
});

describe('the webhook for Telemetry', () => {
  const manifest = { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'logs', namespace: 'shop' }, spec: { accessLogging: [{ filter: { expression: 'response.code >=' } }] } };
  const request = (object: unknown, version = 'v1'): AdmissionRequest => ({ uid: 'u1', kind: { group: 'telemetry.istio.io', version, kind: 'Telemetry' }, operation: 'CREATE', namespace: 'shop', object });

  test('denies an invalid one naming object, field and rule; allows a valid one, v1alpha1 too', () => {
    const denied = validateAdmission(request(manifest));
    expect(denied).toMatchObject({ allowed: false, status: { code: 422 } });
    expect(denied.status?.message).toMatch(/^Telemetry shop\/logs: spec\.accessLogging\[0\]\.filter\.expression: must be a valid CEL expression/);
    expect(validateAdmission(request({ ...manifest, spec: { accessLogging: [{ providers: [{ name: 'envoy' }] }] } }, 'v1alpha1'))).toEqual({ uid: 'u1', allowed: true });
  });
});
