// VirtualService HTTPMatchRequest → Envoy RouteMatch. Conditions Envoy cannot see (the
// client's labels and namespace, the gateway, the port) are decided per proxy and port by
// source-match.ts: a match that does not apply to this proxy is left out.
import type { HTTPMatchRequest, StringMatch } from '../model/http-routes.js';
import type { HeaderMatcher } from '../xds/generated/envoy/config/route/v3/HeaderMatcher.js';
import type { QueryParameterMatcher } from '../xds/generated/envoy/config/route/v3/QueryParameterMatcher.js';
import type { RouteMatch } from '../xds/generated/envoy/config/route/v3/RouteMatch.js';
import type { StringMatcher } from '../xds/generated/envoy/type/matcher/v3/StringMatcher.js';

/** An Istio StringMatch as an Envoy StringMatcher; undefined for the empty match (presence). */
export function stringMatcher(m: StringMatch | undefined, ignoreCase = false): StringMatcher | undefined {
  if (!m) return undefined;
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (m.exact !== undefined) return { exact: m.exact, ...ic };
  if (m.prefix !== undefined) return { prefix: m.prefix, ...ic };
  if (m.regex !== undefined) return { safe_regex: { regex: ignoreCase ? `(?i)${m.regex}` : m.regex } };
  return undefined;
}

export function headerMatcher(name: string, m: StringMatch | undefined, invert = false): HeaderMatcher {
  // Istio reads `regex: "*"` on a header as "present" (in withoutHeaders: "absent"), not as RE2.
  const sm = m?.regex === '*' ? undefined : stringMatcher(m);
  return { name: name.toLowerCase(), ...(sm ? { string_match: sm } : { present_match: true }), ...(invert ? { invert_match: true } : {}) };
}

function queryMatcher(name: string, m: StringMatch | undefined): QueryParameterMatcher {
  const sm = stringMatcher(m);
  return { name, ...(sm ? { string_match: sm } : { present_match: true }) };
}

/** The Envoy RouteMatch of one HTTPMatchRequest (undefined: match everything). */
export function routeMatch(m: HTTPMatchRequest | undefined): RouteMatch {
  if (!m) return { prefix: '/' };
  const out: RouteMatch = {};
  const uri = m.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.prefix !== undefined) out.prefix = uri.prefix;
  else if (uri?.regex !== undefined) out.safe_regex = { regex: m.ignoreUriCase ? `(?i)${uri.regex}` : uri.regex };
  else out.prefix = '/';
  if (m.ignoreUriCase && uri?.regex === undefined) out.case_sensitive = { value: false };
  const headers: HeaderMatcher[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) headers.push(headerMatcher(name, sm));
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) headers.push(headerMatcher(name, sm, true));
  if (m.method) headers.push(headerMatcher(':method', m.method));
  if (m.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length > 0) out.headers = headers;
  const query = Object.entries(m.queryParams ?? {}).map(([name, sm]) => queryMatcher(name, sm));
  if (query.length > 0) out.query_parameters = query;
  return out;
}
