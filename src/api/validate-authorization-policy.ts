// AuthorizationPolicy validation with Istio's rules: those of its webhook (ValidateAuthorizationPolicy,
// the `istio.io/dry-run` annotation, pkg/config/security's attribute, path-template and value
// checks) and those its CRD schema enforces (action names, list limits, serviceAccounts apart
// from principals and namespaces, selector and targetRef rules), since Trellis's CRD leaves value
// rules to this code. Lists that are empty count as absent, as in Istio (its decoder drops them).
import { AUTHORIZATION_ACTIONS, type AuthorizationPolicySpec } from './authorization-policy.js';
import type { WorkloadSelector } from './common.js';
import { ErrorList, isSet, type ValidationError } from './validate-errors.js';
import { DRY_RUN_ANNOTATION } from './validate-metadata.js';
import { validateSelector } from './validate-peer-authentication.js';
import {
  MAX_SERVICE_ACCOUNTS,
  checkStrings,
  count,
  ipBlockProblem,
  isMap,
  kindOf,
  listAt,
  portStringProblem,
  requiredMessage,
  serviceAccountProblem,
  stringAt,
  trustDomainProblem,
  validateOneOfSelector,
  validateTargetRefs,
  wildcardProblem,
} from './validate-security-common.js';

const MAX_RULES = 512;
const MAX_FROM = 512;

type Check = (value: string) => string | undefined;

/** The fields of a rule's source, with the check each value gets besides "not empty". */
const SOURCE_FIELDS: readonly [string, Check?][] = [
  ['principals'],
  ['notPrincipals'],
  ['requestPrincipals'],
  ['notRequestPrincipals'],
  ['namespaces'],
  ['notNamespaces'],
  ['ipBlocks', ipBlockProblem],
  ['notIpBlocks', ipBlockProblem],
  ['remoteIpBlocks', ipBlockProblem],
  ['notRemoteIpBlocks', ipBlockProblem],
  ['serviceAccounts', serviceAccountProblem],
  ['notServiceAccounts', serviceAccountProblem],
  ['trustDomains', trustDomainProblem],
  ['notTrustDomains', trustDomainProblem],
];

/** What CUSTOM (ext_authz) policies cannot match on: the peer's and the request's identity. */
const CUSTOM_UNSUPPORTED_SOURCE = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
];

const OPERATION_FIELDS: readonly [string, Check?][] = [
  ['hosts'],
  ['notHosts'],
  ['ports', portStringProblem],
  ['notPorts', portStringProblem],
  ['methods'],
  ['notMethods'],
  ['paths', pathTemplateProblem],
  ['notPaths', pathTemplateProblem],
];

export function validateAuthorizationPolicy(spec: AuthorizationPolicySpec, annotations?: Readonly<Record<string, string>>): ValidationError[] {
  const e = new ErrorList();
  const s = spec as unknown as Record<string, unknown>;
  validateDryRun(e, s.action, annotations);
  const action = s.action ?? 'ALLOW';
  if (isSet(s.action) && !AUTHORIZATION_ACTIONS.includes(s.action as never)) {
    e.add('spec.action', `must be one of ${AUTHORIZATION_ACTIONS.join(', ')}, got ${JSON.stringify(s.action)}`);
  }
  validateOneOfSelector(e, s);
  if (isSet(s.selector)) validateSelector(e, 'spec.selector', s.selector as WorkloadSelector);
  validateTargetRefs(e, s);
  validateActionRules(e, s, action);
  const custom = action === 'CUSTOM';
  for (const [p, rule] of listAt(e, 'spec.rules', s.rules, 'rules', MAX_RULES)) validateRule(e, p, rule, custom);
  return e.errors;
}

/** Istio's `istio.io/dry-run`: a boolean, and only on ALLOW and DENY policies. */
function validateDryRun(e: ErrorList, action: unknown, annotations: Readonly<Record<string, string>> | undefined): void {
  if (!isMap(annotations) || !Object.prototype.hasOwnProperty.call(annotations, DRY_RUN_ANNOTATION)) return;
  const path = `metadata.annotations[${DRY_RUN_ANNOTATION}]`;
  if (action === 'AUDIT' || action === 'CUSTOM') {
    e.add(path, `only policies with action ALLOW or DENY can be a dry run, got action ${action}`);
    return;
  }
  const value: unknown = annotations[DRY_RUN_ANNOTATION];
  const booleans = ['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False'];
  if (typeof value !== 'string' || !booleans.includes(value)) e.add(path, `must be "true" or "false", got ${JSON.stringify(value)}`);
}

/** What an action needs: CUSTOM a provider and rules, DENY rules; a provider only with CUSTOM. */
function validateActionRules(e: ErrorList, s: Record<string, unknown>, action: unknown): void {
  const noRules = count(s.rules) === 0 && (!isSet(s.rules) || Array.isArray(s.rules));
  if (isSet(s.provider)) {
    if (!isMap(s.provider)) e.add('spec.provider', `must be an object with a name, got ${kindOf(s.provider)}`);
    else stringAt(e, 'spec.provider.name', s.provider.name);
    if (action !== 'CUSTOM') e.add('spec.provider', `only action CUSTOM takes a provider, got action ${JSON.stringify(action)}`);
  }
  if ((action === 'CUSTOM' || action === 'DENY') && noRules) {
    e.add('spec.rules', `action ${action} without rules never applies; add an empty rule {} to apply it to every request`);
  } else if (action === 'CUSTOM') {
    const name = isMap(s.provider) ? s.provider.name : undefined;
    if (!isSet(name) || name === '') e.add('spec.provider.name', requiredMessage(name, 'action CUSTOM needs the name of an extension provider of the mesh config'));
  }
}

function validateRule(e: ErrorList, path: string, rule: unknown, custom: boolean): void {
  if (!isMap(rule)) {
    e.add(path, `must be an object (a rule with from, to and when), got ${kindOf(rule)}`);
    return;
  }
  for (const [p, from] of listAt(e, `${path}.from`, rule.from, 'sources', MAX_FROM)) {
    if (!isMap(from)) e.add(p, `must be an object with a source, got ${kindOf(from)}`);
    else if (!isSet(from.source)) e.add(`${p}.source`, 'required: each from entry needs a source');
    else validateSource(e, `${p}.source`, from.source, custom);
  }
  for (const [p, to] of listAt(e, `${path}.to`, rule.to, 'operations')) {
    if (!isMap(to)) e.add(p, `must be an object with an operation, got ${kindOf(to)}`);
    else if (!isSet(to.operation)) e.add(`${p}.operation`, 'required: each to entry needs an operation');
    else validateOperation(e, `${p}.operation`, to.operation);
  }
  for (const [p, condition] of listAt(e, `${path}.when`, rule.when, 'conditions')) validateCondition(e, p, condition, custom);
}

function validateSource(e: ErrorList, path: string, source: unknown, custom: boolean): void {
  if (!isMap(source)) {
    e.add(path, `must be an object, got ${kindOf(source)}`);
    return;
  }
  if (SOURCE_FIELDS.every(([field]) => count(source[field]) === 0)) {
    e.add(path, `must set at least one of ${SOURCE_FIELDS.map(([field]) => field).join(', ')}`);
  }
  // The CRD's rule, on presence: service accounts stand for principals, so not both.
  const accounts = ['serviceAccounts', 'notServiceAccounts'].filter((f) => isSet(source[f]));
  const identities = ['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].filter((f) => isSet(source[f]));
  if (accounts.length > 0 && identities.length > 0) {
    e.add(path, `cannot set serviceAccounts or notServiceAccounts with principals or namespaces (they overlap), got ${[...accounts, ...identities].join(' and ')}`);
  }
  for (const [field, check] of SOURCE_FIELDS) {
    const accountsField = field === 'serviceAccounts' || field === 'notServiceAccounts';
    checkStrings(e, `${path}.${field}`, source[field], { what: 'strings', check, maxItems: accountsField ? MAX_SERVICE_ACCOUNTS : undefined });
    if (custom && CUSTOM_UNSUPPORTED_SOURCE.includes(field) && count(source[field]) > 0) {
      e.add(`${path}.${field}`, 'not supported with action CUSTOM (the external authorizer decides on identities)');
    }
  }
}

function validateOperation(e: ErrorList, path: string, operation: unknown): void {
  if (!isMap(operation)) {
    e.add(path, `must be an object, got ${kindOf(operation)}`);
    return;
  }
  if (OPERATION_FIELDS.every(([field]) => count(operation[field]) === 0)) {
    e.add(path, `must set at least one of ${OPERATION_FIELDS.map(([field]) => field).join(', ')}`);
  }
  for (const [field, check] of OPERATION_FIELDS) checkStrings(e, `${path}.${field}`, operation[field], { what: 'strings', check });
}

function validateCondition(e: ErrorList, path: string, condition: unknown, custom: boolean): void {
  if (!isMap(condition)) {
    e.add(path, `must be an object with a key and values or notValues, got ${kindOf(condition)}`);
    return;
  }
  const key = stringAt(e, `${path}.key`, condition.key);
  if (key === '' || !isSet(condition.key)) {
    e.add(`${path}.key`, requiredMessage(condition.key, 'the name of an Istio attribute, e.g. request.headers[x-token] or source.ip'));
  }
  if (count(condition.values) === 0 && count(condition.notValues) === 0) {
    e.add(path, `must set values or notValues${key ? ` for key ${JSON.stringify(key)}` : ''}`);
  }
  const attribute = key ? attributeRule(key) : undefined;
  if (key) e.check(`${path}.key`, attribute?.problem);
  if (key && custom && customUnsupportedKey(key)) e.add(`${path}.key`, `${JSON.stringify(key)} is not supported with action CUSTOM (the external authorizer decides on identities)`);
  for (const field of ['values', 'notValues']) {
    const list = condition[field];
    checkStrings(e, `${path}.${field}`, list, { what: 'strings', check: attribute?.problem ? undefined : attribute?.check });
    if (attribute?.maxItems !== undefined && count(list) > attribute.maxItems) {
      e.add(`${path}.${field}`, `at most ${attribute.maxItems} values for ${key}, got ${count(list)}`);
    }
  }
}

function customUnsupportedKey(key: string): boolean {
  return ['source.namespace', 'source.serviceAccount', 'source.principal', 'source.trustDomain'].includes(key) || key.startsWith('request.auth.');
}

interface AttributeRule {
  /** What is wrong with the key itself. */
  problem?: string;
  /** The rule of each value. */
  check?: Check;
  maxItems?: number;
}

/** `name[key]` with a non-empty key (Istio's validateMapKey). */
function mapKeyProblem(key: string): string | undefined {
  const open = key.indexOf('[');
  if (key.endsWith(']') && open > 0 && open < key.length - 2) return undefined;
  return `malformed key ${JSON.stringify(key)}: use the form name[key], e.g. request.headers[x-token]`;
}

/** Istio's ValidateAttribute: the attributes a condition may test, and their values. */
function attributeRule(key: string): AttributeRule {
  const startsWith = (prefix: string): boolean => key.startsWith(prefix);
  if (startsWith('request.headers') || startsWith('request.experimental.inline.headers')) return { problem: mapKeyProblem(key) };
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip':
      return { check: ipBlockProblem };
    case 'source.serviceAccount':
      return { check: serviceAccountProblem, maxItems: MAX_SERVICE_ACCOUNTS };
    case 'source.trustDomain':
      return { check: wildcardProblem };
    case 'destination.port':
      return { check: portStringProblem };
    case 'source.namespace':
    case 'source.principal':
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
    case 'connection.sni':
      return {};
    case 'destination.namespace':
      return { problem: 'attribute destination.namespace is replaced by the policy\'s own namespace (metadata.namespace)' };
    case 'destination.name':
    case 'destination.user':
      return { problem: `attribute ${key} was only supported in Istio's v1alpha1 RBAC; it is not supported any more` };
  }
  if (startsWith('request.auth.claims') || startsWith('experimental.envoy.filters.')) return { problem: mapKeyProblem(key) };
  if (startsWith('destination.labels')) return { problem: `attribute ${key} is replaced by the workload selector (spec.selector)` };
  return {
    problem: `unknown attribute ${JSON.stringify(key)}: use request.headers[...], source.ip, remote.ip, source.namespace, source.principal, source.serviceAccount, source.trustDomain, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[...], destination.ip, destination.port, connection.sni or experimental.envoy.filters.*[...]`,
  };
}

const MATCH_ONE = '{*}';
const MATCH_ANY = '{**}';
/** RFC 3986 pchar, the characters of a literal segment in a path template (Istio's IsValidLiteral). */
const LITERAL_SEGMENT = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

/**
 * Istio's CheckValidPathTemplate: `{*}` (one segment) and `{**}` (the rest, last operator only)
 * are whole segments; no other braces; in a template path, literal segments are RFC 3986 pchars.
 */
export function pathTemplateProblem(path: string): string | undefined {
  const template = path.includes(MATCH_ONE) || path.includes(MATCH_ANY);
  const quoted = JSON.stringify(path);
  let sawMatchAny = false;
  for (const segment of path.replace(/^\/+|\/+$/g, '').split('/')) {
    if (segment === MATCH_ONE || segment === MATCH_ANY) {
      if (sawMatchAny) return `invalid path template ${quoted}: {**} must be the last operator (no {*} or {**} after it)`;
      sawMatchAny = segment === MATCH_ANY;
      continue;
    }
    if (segment.includes('{') || segment.includes('}')) {
      return `invalid path ${quoted}: "{" and "}" are allowed only as the whole-segment templates {*} and {**}`;
    }
    if (template && !LITERAL_SEGMENT.test(segment)) {
      return `invalid path template ${quoted}: segment ${JSON.stringify(segment)} may contain only letters, digits and -._~%!$&'()+,;:@= (no *, ? or empty segments)`;
    }
  }
  return undefined;
}
