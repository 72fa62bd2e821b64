// RequestAuthentication validation with Istio's rules: those of its webhook
// (ValidateRequestAuthentication, validateJwtRule, ParseJwksURI, the JWKS parse,
// ValidateStrictHTTPHeaderName, ValidateDuration) and those its CRD schema enforces (non-empty
// strings, header name pattern, jwksUri scheme and length, one key source, presence names,
// selector and targetRef rules), since Trellis's CRD leaves value rules to this code.
import { JWT_PRESENCES, type RequestAuthenticationSpec } from './request-authentication.js';
import { ErrorList, isSet, type ValidationError } from './validate-errors.js';
import { durationProblem } from './validate-primitives.js';
import { checkStrings, isMap, kindOf, listAt, requiredMessage, stringAt, validateWorkloadTargeting } from './validate-security-common.js';

const MAX_JWT_RULES = 4096;
const MAX_JWKS_URI = 2048;
/** Istio's strict header name (and its CRD's pattern for outputClaimToHeaders[].header). */
const CLAIM_HEADER = /^[-_A-Za-z0-9]+$/;

export function validateRequestAuthentication(spec: RequestAuthenticationSpec): ValidationError[] {
  const e = new ErrorList();
  const s = spec as unknown as Record<string, unknown>;
  validateWorkloadTargeting(e, s);
  for (const [p, rule] of listAt(e, 'spec.jwtRules', s.jwtRules, 'JWT rules', MAX_JWT_RULES)) validateJwtRule(e, p, rule);
  return e.errors;
}

function validateJwtRule(e: ErrorList, path: string, rule: unknown): void {
  if (!isMap(rule)) {
    e.add(path, `must be an object (a JWT rule with an issuer or a jwksUri), got ${kindOf(rule)}`);
    return;
  }
  const issuer = stringAt(e, `${path}.issuer`, rule.issuer);
  if (issuer === '') e.add(`${path}.issuer`, 'must not be empty when set (leave it out to accept any issuer of the jwksUri), got ""');
  // jwks_uri is the proto name of jwksUri; Istio reads either.
  const uriField = isSet(rule.jwksUri) || !isSet(rule.jwks_uri) ? 'jwksUri' : 'jwks_uri';
  const keySources = ['jwksUri', 'jwks_uri', 'jwks'].filter((f) => isSet(rule[f]));
  if (keySources.length > 1) e.add(path, `set only one of jwks and jwksUri, got ${keySources.join(' and ')}`);
  const uris = (['jwksUri', 'jwks_uri'] as const).map((field) => [field, stringAt(e, `${path}.${field}`, rule[field])] as const);
  for (const [field, uri] of uris) {
    if (uri === '') e.add(`${path}.${field}`, 'must not be empty when set, got ""');
    else if (uri !== undefined) e.check(`${path}.${field}`, jwksUriProblem(uri));
  }
  const uri = uris.find(([field]) => field === uriField)?.[1];
  if (!issuer && !uri) e.add(path, 'needs an issuer or a jwksUri');
  const jwks = stringAt(e, `${path}.jwks`, rule.jwks);
  if (jwks) e.check(`${path}.jwks`, jwksProblem(jwks));
  checkStrings(e, `${path}.audiences`, rule.audiences, { what: 'audiences' });
  for (const [p, header] of listAt(e, `${path}.fromHeaders`, rule.fromHeaders, 'headers')) {
    if (!isMap(header)) {
      e.add(p, `must be an object with a name, got ${kindOf(header)}`);
      continue;
    }
    const name = stringAt(e, `${p}.name`, header.name);
    if (name === '' || !isSet(header.name)) e.add(`${p}.name`, requiredMessage(header.name, 'the name of the header that carries the token'));
    stringAt(e, `${p}.prefix`, header.prefix);
  }
  checkStrings(e, `${path}.fromParams`, rule.fromParams, { what: 'query parameter names' });
  checkStrings(e, `${path}.fromCookies`, rule.fromCookies, { what: 'cookie names' });
  stringAt(e, `${path}.outputPayloadToHeader`, rule.outputPayloadToHeader);
  if (isSet(rule.forwardOriginalToken) && typeof rule.forwardOriginalToken !== 'boolean') {
    e.add(`${path}.forwardOriginalToken`, `must be true or false, got ${kindOf(rule.forwardOriginalToken)}`);
  }
  for (const [p, claimToHeader] of listAt(e, `${path}.outputClaimToHeaders`, rule.outputClaimToHeaders, 'claim-to-header operations')) {
    if (!isMap(claimToHeader)) {
      e.add(p, `must be an object with a header and a claim, got ${kindOf(claimToHeader)}`);
      continue;
    }
    const header = stringAt(e, `${p}.header`, claimToHeader.header);
    if (header === '' || !isSet(claimToHeader.header)) e.add(`${p}.header`, requiredMessage(claimToHeader.header, 'the name of the header to write the claim to'));
    else if (header !== undefined && !CLAIM_HEADER.test(header)) {
      e.add(`${p}.header`, `invalid header name ${JSON.stringify(header)}: use letters, digits, '-' and '_' only`);
    }
    const claim = stringAt(e, `${p}.claim`, claimToHeader.claim);
    if (claim === '' || !isSet(claimToHeader.claim)) e.add(`${p}.claim`, requiredMessage(claimToHeader.claim, 'the name of the claim to copy'));
  }
  if (isSet(rule.timeout)) e.check(`${path}.timeout`, durationProblem(rule.timeout, { min: '1ms', precision: 'ms' }));
  checkStrings(e, `${path}.spaceDelimitedClaims`, rule.spaceDelimitedClaims, { what: 'claim names' });
  if (isSet(rule.presence) && !JWT_PRESENCES.includes(rule.presence as never)) {
    e.add(`${path}.presence`, `must be one of ${JWT_PRESENCES.join(', ')}, got ${JSON.stringify(rule.presence)}`);
  }
}

/**
 * Istio's ParseJwksURI (Go's url.Parse, then the scheme and the port) and its CRD's rules: an
 * http or https URL of at most 2048 characters.
 */
export function jwksUriProblem(uri: string): string | undefined {
  const quoted = JSON.stringify(uri);
  if (uri.length > MAX_JWKS_URI) return `must be at most ${MAX_JWKS_URI} characters, got ${uri.length}`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(uri)) return `invalid URL ${quoted}: control characters are not allowed`;
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1].toLowerCase();
  if (uri.startsWith(':')) return `invalid URL ${quoted}: missing scheme`;
  if (scheme !== 'http' && scheme !== 'https') {
    return `must be an http:// or https:// URL, got ${scheme ? `scheme ${JSON.stringify(scheme)}` : 'no scheme'} in ${quoted}`;
  }
  let rest = uri.slice(scheme.length + 1);
  const hash = rest.indexOf('#');
  const fragment = hash >= 0 ? rest.slice(hash + 1) : '';
  if (hash >= 0) rest = rest.slice(0, hash);
  const query = rest.indexOf('?');
  if (query >= 0) rest = rest.slice(0, query);
  const badEscape = (text: string): boolean => /%(?![0-9a-fA-F]{2})/.test(text);
  if (badEscape(rest) || badEscape(fragment)) return `invalid URL ${quoted}: a "%" must start an escape such as %20`;
  if (!rest.startsWith('//')) return undefined;
  const slash = rest.indexOf('/', 2);
  const authority = slash >= 0 ? rest.slice(2, slash) : rest.slice(2);
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  let port: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) return `invalid URL ${quoted}: missing "]" in the host`;
    const after = host.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return `invalid URL ${quoted}: unexpected ${JSON.stringify(after)} after the IPv6 address`;
    port = after === '' ? undefined : after.slice(1);
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) port = host.slice(colon + 1);
    const name = colon >= 0 ? host.slice(0, colon) : host;
    if (/[\s<>"`{}|\\^]/.test(name)) return `invalid URL ${quoted}: invalid character in the host name`;
  }
  if (port !== undefined && !/^\d*$/.test(port)) return `invalid URL ${quoted}: the port must be a number, got ${JSON.stringify(port)}`;
  if (port !== undefined && port.length > 18) return `invalid URL ${quoted}: port ${port} is out of range`;
  return undefined;
}

/** The members each key type needs (RFC 7518), as the JWK parser Istio uses checks them. */
const KEY_MEMBERS: Readonly<Record<string, readonly string[]>> = { RSA: ['n', 'e'], EC: ['crv', 'x', 'y'], OKP: ['crv', 'x'], oct: ['k'] };

/**
 * Istio parses an inline JWKS (lestrrat-go/jwx): a JSON key set {"keys": [...]} or a single key,
 * each key of a known type with the members that type needs, base64url-encoded.
 */
export function jwksProblem(jwks: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(jwks);
  } catch (err) {
    return `invalid JWKS: not JSON (${err instanceof Error ? err.message : String(err)})`;
  }
  if (!isMap(parsed)) return `invalid JWKS: must be a JSON object {"keys": [...]}, got ${kindOf(parsed)}`;
  // With "keys" it is a set (possibly empty); without, the object is the one key.
  const hasKeys = Object.prototype.hasOwnProperty.call(parsed, 'keys');
  if (hasKeys && !Array.isArray(parsed.keys)) return `invalid JWKS: "keys" must be a list of keys, got ${kindOf(parsed.keys)}`;
  const keys: unknown[] = hasKeys ? (parsed.keys as unknown[]) : [parsed];
  for (const [i, key] of keys.entries()) {
    const where = hasKeys ? `key ${i}` : 'the key';
    if (!isMap(key)) return `invalid JWKS: ${where} must be an object, got ${kindOf(key)}`;
    const members = typeof key.kty === 'string' ? KEY_MEMBERS[key.kty] : undefined;
    if (!members) return `invalid JWKS: ${where} needs "kty" RSA, EC, OKP or oct, got ${JSON.stringify(key.kty ?? null)}`;
    for (const member of members) {
      const value = key[member];
      if (typeof value !== 'string' || value === '') return `invalid JWKS: ${where} (kty ${key.kty}) needs "${member}"`;
      if (member !== 'crv' && !/^[A-Za-z0-9_-]+=*$/.test(value)) return `invalid JWKS: ${where} has "${member}" that is not base64url`;
    }
  }
  return undefined;
}
