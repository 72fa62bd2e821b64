// RequestAuthentication validation: Istio's rules (its webhook's and its CRD schema's), each
// broken rule named by field path, and the same verdict from the admission webhook's handler.
import { validationErrors, validateManifest } from '../../src/api/validate.js';
import { jwksProblem, jwksUriProblem } from '../../src/api/validate-request-authentication.js';
import { validateAdmission } from '../../src/webhooks/validation.js';
import type { AdmissionRequest } from '../../src/webhooks/admission.js';

const check = (spec: unknown, annotations?: Record<string, string>): string[] =>
  validationErrors('RequestAuthentication', 'bar', 'jwt', spec, annotations).map((e) => `${e.path}: ${e.message}`);

const rule = (fields: Record<string, unknown>): unknown => ({ jwtRules: [{ issuer: 'https://issuer.example.com', ...fields }] });

const JWKS = '{"keys":[{"kty":"RSA","kid":"k1","e":"AQAB","n":"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX"}]}';

describe('RequestAuthentication rules', () => {
  test('an empty spec, a selector alone, and a full rule are valid', () => {
    expect(check({})).toEqual([]);
    expect(check({ selector: { matchLabels: { app: 'web' } } })).toEqual([]);
    const full = {
      issuer: 'https://issuer.example.com',
      audiences: ['web'],
      jwksUri: 'https://issuer.example.com/.well-known/jwks.json',
      fromHeaders: [{ name: 'x-jwt', prefix: 'Bearer ' }],
      fromParams: ['token'],
      fromCookies: ['session'],
      outputPayloadToHeader: 'x-jwt-payload',
      forwardOriginalToken: true,
      outputClaimToHeaders: [{ header: 'x-user_id', claim: 'sub' }],
      timeout: '5s',
      spaceDelimitedClaims: ['roles'],
      presence: 'REQUIRED',
    };
    expect(check({ jwtRules: [full] })).toEqual([]);
  });

  test('a rule needs an issuer or a jwksUri; neither may be an empty string', () => {
    expect(check({ jwtRules: [{}] })).toEqual(['spec.jwtRules[0]: needs an issuer or a jwksUri']);
    expect(check({ jwtRules: [{ jwksUri: 'https://keys.example.com/jwks' }] })).toEqual([]);
    expect(check({ jwtRules: [{ jwks_uri: 'https://keys.example.com/jwks' }] })).toEqual([]);
    expect(check({ jwtRules: [{ issuer: '', jwksUri: 'https://k.example.com' }] })).toEqual([
      'spec.jwtRules[0].issuer: must not be empty when set (leave it out to accept any issuer of the jwksUri), got ""',
    ]);
    expect(check({ jwtRules: [null] })).toEqual(['spec.jwtRules[0]: must be an object (a JWT rule with an issuer or a jwksUri), got null']);
  });

  test('jwksUri: an http or https URL Go can parse, with a numeric port, at most 2048 characters', () => {
    for (const ok of ['http://foo.bar.com', 'https://foo.bar.com:1234/secure/key', 'HTTPS://foo.bar.com', 'http://[::1]:8080/jwks', 'https://foo.bar.com:/x?a=b#c']) {
      expect({ ok, problem: jwksUriProblem(ok) }).toEqual({ ok, problem: undefined });
    }
    expect(jwksUriProblem('foo.bar.com')).toBe('must be an http:// or https:// URL, got no scheme in "foo.bar.com"');
    expect(jwksUriProblem('tcp://foo.bar.com')).toBe('must be an http:// or https:// URL, got scheme "tcp" in "tcp://foo.bar.com"');
    expect(jwksUriProblem('http://foo.bar.com:abc')).toBe('invalid URL "http://foo.bar.com:abc": the port must be a number, got "abc"');
    expect(jwksUriProblem('https://foo.com/%zz')).toBe('invalid URL "https://foo.com/%zz": a "%" must start an escape such as %20');
    expect(jwksUriProblem('http://foo\bbar')).toBe('invalid URL "http://foo\\bbar": control characters are not allowed');
    expect(jwksUriProblem(`https://k.example.com/${'a'.repeat(2048)}`)).toBe('must be at most 2048 characters, got 2070');
    expect(check(rule({ jwksUri: 'foo.com' }))).toEqual(['spec.jwtRules[0].jwksUri: must be an http:// or https:// URL, got no scheme in "foo.com"']);
  });

  test('jwks: a JSON Web Key Set whose keys are complete; only one of jwks and jwksUri', () => {
    expect(check(rule({ jwks: JWKS }))).toEqual([]);
    expect(jwksProblem('{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}')).toBeUndefined();
    expect(jwksProblem('foo')).toMatch(/^invalid JWKS: not JSON \(/);
    expect(jwksProblem('[]')).toBe('invalid JWKS: must be a JSON object {"keys": [...]}, got a list');
    expect(jwksProblem('{"keys":[{"kty":"RSA","e":"AQAB"}]}')).toBe('invalid JWKS: key 0 (kty RSA) needs "n"');
    expect(jwksProblem('{"keys":[{"kid":"x"}]}')).toBe('invalid JWKS: key 0 needs "kty" RSA, EC, OKP or oct, got null');
    expect(jwksProblem('{"keys":[]}')).toBeUndefined();
    expect(jwksProblem('{}')).toBe('invalid JWKS: the key needs "kty" RSA, EC, OKP or oct, got null');
    expect(jwksProblem('{"keys":{}}')).toBe('invalid JWKS: "keys" must be a list of keys, got an object');
    expect(check(rule({ jwks: JWKS, jwksUri: 'https://k.example.com' }))).toEqual(['spec.jwtRules[0]: set only one of jwks and jwksUri, got jwksUri and jwks']);
  });

  test('token locations: header names, query parameters and cookies are not empty', () => {
    expect(check(rule({ fromHeaders: [{ prefix: 'Bearer ' }, { name: '' }], fromParams: [''], fromCookies: ['a', ''] }))).toEqual([
      'spec.jwtRules[0].fromHeaders[0].name: required: the name of the header that carries the token',
      'spec.jwtRules[0].fromHeaders[1].name: must not be empty: the name of the header that carries the token, got ""',
      'spec.jwtRules[0].fromParams[0]: must not be empty',
      'spec.jwtRules[0].fromCookies[1]: must not be empty',
    ]);
    expect(check(rule({ audiences: ['a', ''] }))).toEqual(['spec.jwtRules[0].audiences[1]: must not be empty']);
  });

  test('outputClaimToHeaders: a header of letters, digits, - and _, and a claim', () => {
    expect(check(rule({ outputClaimToHeaders: [{ header: 'X-Requested-With', claim: 'sub' }, { header: 'foo_bar', claim: 'nested.key' }] }))).toEqual([]);
    expect(check(rule({ outputClaimToHeaders: [{ header: ':authority', claim: 'sub' }, { header: 'abc%123', claim: 'sub' }, {}] }))).toEqual([
      'spec.jwtRules[0].outputClaimToHeaders[0].header: invalid header name ":authority": use letters, digits, \'-\' and \'_\' only',
      'spec.jwtRules[0].outputClaimToHeaders[1].header: invalid header name "abc%123": use letters, digits, \'-\' and \'_\' only',
      'spec.jwtRules[0].outputClaimToHeaders[2].header: required: the name of the header to write the claim to',
      'spec.jwtRules[0].outputClaimToHeaders[2].claim: required: the name of the claim to copy',
    ]);
    expect(check(rule({ outputClaimToHeaders: [{ header: 'x-sub', claim: '' }] }))).toEqual([
      'spec.jwtRules[0].outputClaimToHeaders[0].claim: must not be empty: the name of the claim to copy, got ""',
    ]);
  });

  test('timeout: at least 1ms, in whole milliseconds', () => {
    for (const ok of ['1s', '1ms', '0.5s', '100ms']) expect(check(rule({ timeout: ok }))).toEqual([]);
    expect(check(rule({ timeout: '0.000000001s' }))).toEqual(['spec.jwtRules[0].timeout: must be at least 1ms, got "0.000000001s"']);
    expect(check(rule({ timeout: '1.000000001s' }))).toEqual(['spec.jwtRules[0].timeout: must be a whole number of milliseconds, got "1.000000001s"']);
    expect(check(rule({ timeout: '-11s' }))).toEqual(['spec.jwtRules[0].timeout: must not be negative, got "-11s"']);
    expect(check(rule({ timeout: 'apple' }))).toHaveLength(1);
  });

  test('spaceDelimitedClaims are not empty; presence is OPTIONAL or REQUIRED', () => {
    expect(check(rule({ spaceDelimitedClaims: ['scope', ''] }))).toEqual(['spec.jwtRules[0].spaceDelimitedClaims[1]: must not be empty']);
    expect(check(rule({ presence: 'OPTIONAL' }))).toEqual([]);
    expect(check(rule({ presence: 'MANDATORY' }))).toEqual(['spec.jwtRules[0].presence: must be one of OPTIONAL, REQUIRED, got "MANDATORY"']);
  });

  test('selector and targets: AuthorizationPolicy\'s rules', () => {
    expect(check({ targetRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' } })).toEqual([]);
    expect(check({ selector: { matchLabels: { a: 'b' } }, targetRef: { kind: 'Service', name: 'web' } })).toEqual([
      'spec.targetRef: cannot be set together with selector: set only one of selector, targetRef and targetRefs',
    ]);
    expect(check({ targetRef: { group: '__', kind: 'Service', name: 'foo' } })).toEqual([
      'spec.targetRef.group: must be an API group (a lower-case DNS name of at most 253 characters) or "" for core, got "__"',
    ]);
    expect(check({ selector: { matchLabels: { '': 'v1' } } })).toEqual(['spec.selector.matchLabels[]: label key must not be empty']);
  });

  test('istio.io/dry-run is AuthorizationPolicy\'s only', () => {
    expect(check({}, { 'istio.io/dry-run': 'true' })).toEqual(['metadata.annotations[istio.io/dry-run]: only AuthorizationPolicy supports this annotation; remove it']);
  });

  test('malformed input yields errors, never an exception', () => {
    const weird: unknown[] = [
      { jwtRules: {} },
      { jwtRules: ['x'] },
      { jwtRules: [{ issuer: 3 }] },
      { jwtRules: [{ issuer: 'i', audiences: 'a' }] },
      { jwtRules: [{ issuer: 'i', fromHeaders: [null] }] },
      { jwtRules: [{ issuer: 'i', fromHeaders: [{ name: 1 }] }] },
      { jwtRules: [{ issuer: 'i', outputClaimToHeaders: [[]] }] },
      { jwtRules: [{ issuer: 'i', timeout: 5 }] },
      { jwtRules: [{ issuer: 'i', jwks: {} }] },
      { jwtRules: [{ jwksUri: 7 }] },
      { jwtRules: [{ issuer: 'i', forwardOriginalToken: 'yes' }] },
      { jwtRules: [{ issuer: 'i', presence: 1 }] },
      { selector: [], targetRefs: 'x' },
    ];
    for (const spec of weird) {
      expect(() => check(spec)).not.toThrow();
      expect({ spec, errors: check(spec).length > 0 }).toEqual({ spec, errors: true });
    }
    expect(check({ jwtRules: [{ issuer: 'i', timeout: 5 }] })).toEqual(['spec.jwtRules[0].timeout: must be a duration string such as 1s, got 5']);
  });
});

describe('validateManifest() and the webhook for RequestAuthentication', () => {
  const manifest = { apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'jwt', namespace: 'shop' }, spec: { jwtRules: [{ issuer: 'i', jwksUri: 'foo.com' }] } };

  test('names the object, the field and the rule; v1beta1 too', () => {
    expect(validateManifest(manifest)?.messages).toEqual(['RequestAuthentication shop/jwt: spec.jwtRules[0].jwksUri: must be an http:// or https:// URL, got no scheme in "foo.com"']);
    expect(validateManifest({ ...manifest, apiVersion: 'security.istio.io/v1beta1', spec: {} })?.messages).toEqual([]);
  });

  const request = (object: unknown): AdmissionRequest => ({ uid: 'u1', kind: { group: 'security.istio.io', version: 'v1', kind: 'RequestAuthentication' }, operation: 'CREATE', namespace: 'shop', object });

  test('the webhook denies an invalid one with the same message, and allows a valid one', () => {
    expect(validateAdmission(request(manifest))).toEqual({ uid: 'u1', allowed: false, status: { code: 422, reason: 'Invalid', message: validateManifest(manifest)!.messages[0] } });
    expect(validateAdmission(request({ ...manifest, spec: { jwtRules: [{ issuer: 'i' }] } }))).toEqual({ uid: 'u1', allowed: true });
  });
});
