// The Envoy matchers an AuthorizationPolicy value becomes, with Istio's reading of its wildcards:
// `*` alone means "present, any value", `*x` a suffix, `x*` a prefix, anything else an exact
// value. Pure builders of plain RBAC objects (envoy.config.rbac.v3), no policy logic.
import type { Permission } from '../xds/generated/envoy/config/rbac/v3/Permission.js';
import type { Principal } from '../xds/generated/envoy/config/rbac/v3/Principal.js';
import type { CidrRange } from '../xds/generated/envoy/config/core/v3/CidrRange.js';
import type { StringMatcher } from '../xds/generated/envoy/type/matcher/v3/StringMatcher.js';
import type { ValueMatcher } from '../xds/generated/envoy/type/matcher/v3/ValueMatcher.js';
import type { MetadataMatcher } from '../xds/generated/envoy/type/matcher/v3/MetadataMatcher.js';
import type { HeaderMatcher } from '../xds/generated/envoy/config/route/v3/HeaderMatcher.js';
import { packAny } from '../xds/protos.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/** Where the jwt_authn filter writes a verified token's claims (RequestAuthentication sets it so). */
export const JWT_PAYLOAD_KEY = 'payload';
export const SPIFFE_PREFIX = 'spiffe://';
const URI_TEMPLATE_TYPE = 'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

export const regexMatcher = (regex: string): StringMatcher => ({ safe_regex: { regex } });

/** `*` → any non-empty value (never an empty prefix or suffix, which Envoy refuses). */
export function stringMatcher(value: string, prefix = '', ignoreCase = false): StringMatcher {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (value === '*') return regexMatcher('.+');
  if (value.startsWith('*')) return { suffix: prefix + value.slice(1), ...ic };
  if (value.endsWith('*')) return { prefix: prefix + value.slice(0, -1), ...ic };
  return { exact: prefix + value, ...ic };
}

export function headerMatcher(name: string, value: string, ignoreCase = false): HeaderMatcher {
  if (value === '*') return { name, present_match: true };
  return { name, string_match: stringMatcher(value, '', ignoreCase) };
}

/** RE2 with the value's literal characters escaped (a dot in a name is a dot). */
export const escapeRegex = (s: string): string => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** An address or CIDR as Envoy's CidrRange; throws on anything else (the caller decides). */
export function cidrRange(value: string): CidrRange {
  const [address, len, ...rest] = value.split('/');
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address ?? '');
  const v6 = !v4 && (address ?? '').includes(':') && /^[0-9a-fA-F:.]+$/.test(address ?? '');
  if (rest.length > 0 || !address || (!v4 && !v6) || (v4 && v4.slice(1).some((o) => Number(o) > 255))) throw new Error(`${JSON.stringify(value)} is not an IP address or CIDR`);
  const max = v4 ? 32 : 128;
  const prefixLen = len === undefined ? max : Number(len);
  if (!/^\d+$/.test(len ?? String(max)) || prefixLen > max) throw new Error(`${JSON.stringify(value)} has an invalid prefix length`);
  return { address_prefix: address, prefix_len: { value: prefixLen } };
}

export function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new Error(`${JSON.stringify(value)} is not a port`);
  return Number(value);
}

/** Istio's path templates: `{*}` one segment, `{**}` any number of them. */
export const isPathTemplate = (path: string): boolean => path.includes('{*}') || path.includes('{**}');

export function pathPermission(value: string): Permission {
  if (isPathTemplate(value)) {
    const template = value.replace(/\{\*\*\}/g, '**').replace(/\{\*\}/g, '*');
    return { uri_template: { name: 'uri-template', typed_config: packAny(URI_TEMPLATE_TYPE, { path_template: template }) } };
  }
  return { url_path: { path: stringMatcher(value) } };
}

export function metadataMatcher(filter: string, path: readonly string[], value: ValueMatcher): MetadataMatcher {
  return { filter, path: path.map((key) => ({ key })), value };
}

/** One value matcher for several: the single one itself, or their OR. */
export function orValue(matchers: ValueMatcher[]): ValueMatcher {
  return matchers.length === 1 ? matchers[0]! : { or_match: { value_matchers: matchers } };
}

/** A claim that may be a string or a list of strings (aud, azp, custom claims). */
export function claimMatcher(claimPath: readonly string[], values: readonly string[]): MetadataMatcher {
  const strings = orValue(values.map((v) => ({ string_match: stringMatcher(v) })));
  return metadataMatcher(JWT_AUTHN_FILTER, [JWT_PAYLOAD_KEY, ...claimPath], { or_match: { value_matchers: [{ list_match: { one_of: strings } }, strings] } });
}

export const jwtClaimEquals = (claim: string, m: StringMatcher): Principal => ({
  metadata: metadataMatcher(JWT_AUTHN_FILTER, [JWT_PAYLOAD_KEY, claim], { string_match: m }),
});

export const authenticated = (m: StringMatcher): Principal => ({ authenticated: { principal_name: m } });

export const anyPermission = (): Permission => ({ any: true });
export const anyPrincipal = (): Principal => ({ any: true });
export const orPermissions = (rules: Permission[]): Permission => ({ or_rules: { rules } });
export const andPermissions = (rules: Permission[]): Permission => ({ and_rules: { rules } });
export const notPermission = (rule: Permission): Permission => ({ not_rule: rule });
export const orPrincipals = (ids: Principal[]): Principal => ({ or_ids: { ids } });
export const andPrincipals = (ids: Principal[]): Principal => ({ and_ids: { ids } });
export const notPrincipal = (id: Principal): Principal => ({ not_id: id });
