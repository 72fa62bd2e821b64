// Reading Istio's MeshConfig (YAML) for the fields Trellis uses. A file that cannot be used is an
// error naming the field, raised at startup: a CUSTOM policy pointing at a provider that was
// silently dropped would fail closed for every request, a surprise better had at install time.
// Fields Trellis does not read are ignored, as they configure parts of istiod it has no peer for.
import yaml from 'js-yaml';
import type { ExtensionProvider, MeshConfig } from './mesh-config.js';
import { ErrorList, type ValidationError } from './validate-errors.js';
import { validateFileAccessLogProvider, validateMeshAccessLog } from './validate-mesh-access-log.js';

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

const HTTP_FIELDS: Record<string, (v: unknown) => boolean> = {
  service: (v) => typeof v === 'string',
  port: (v) => typeof v === 'number',
  timeout: (v) => typeof v === 'string',
  pathPrefix: (v) => typeof v === 'string',
  failOpen: (v) => typeof v === 'boolean',
  statusOnError: (v) => typeof v === 'string',
  includeRequestHeadersInCheck: isStrings,
  includeAdditionalHeadersInCheck: (v) => isMap(v) && Object.values(v).every((x) => typeof x === 'string'),
  includeRequestBodyInCheck: isMap,
  headersToUpstreamOnAllow: isStrings,
  headersToDownstreamOnDeny: isStrings,
  headersToDownstreamOnAllow: isStrings,
  includeHeadersInCheck: isStrings,
};
const GRPC_FIELDS = ['service', 'port', 'timeout', 'failOpen', 'statusOnError', 'includeRequestBodyInCheck'];

export function validateMeshConfig(mesh: unknown): ValidationError[] {
  const e = new ErrorList();
  if (!isMap(mesh)) {
    e.add('', 'must be a YAML map (Istio MeshConfig)');
    return e.errors;
  }
  const aliases = mesh.trustDomainAliases;
  if (aliases !== undefined && aliases !== null) {
    if (!Array.isArray(aliases)) e.add('trustDomainAliases', 'must be a list');
    else aliases.forEach((a: unknown, i: number) => {
      if (typeof a !== 'string' || !/^[A-Za-z0-9.*-]+$/.test(a)) e.add(`trustDomainAliases[${i}]`, `must be a trust domain (letters, digits, dots, dashes), got ${JSON.stringify(a)}`);
    });
  }
  validateMeshAccessLog(e, mesh);
  const merge = mesh.enablePrometheusMerge;
  if (merge !== undefined && merge !== null && typeof merge !== 'boolean') e.add('enablePrometheusMerge', `must be true or false, got ${JSON.stringify(merge)}`);
  const providers = mesh.extensionProviders;
  if (providers === undefined || providers === null) return e.errors;
  if (!Array.isArray(providers)) {
    e.add('extensionProviders', 'must be a list');
    return e.errors;
  }
  const names = new Set<string>();
  providers.forEach((p: unknown, i) => {
    const path = `extensionProviders[${i}]`;
    if (!isMap(p)) return e.add(path, 'must be a map');
    if (typeof p.name !== 'string' || p.name === '') e.add(`${path}.name`, 'required');
    else if (names.has(p.name)) e.add(`${path}.name`, `duplicate provider name ${JSON.stringify(p.name)}`);
    else names.add(p.name);
    if (p.envoyFileAccessLog !== undefined) validateFileAccessLogProvider(e, `${path}.envoyFileAccessLog`, p.envoyFileAccessLog);
    for (const [kind, fields] of [
      ['envoyExtAuthzHttp', Object.keys(HTTP_FIELDS)],
      ['envoyExtAuthzGrpc', GRPC_FIELDS],
    ] as const) {
      const c = p[kind];
      if (c === undefined) continue;
      if (!isMap(c)) {
        e.add(`${path}.${kind}`, 'must be a map');
        continue;
      }
      if (typeof c.service !== 'string' || c.service === '') e.add(`${path}.${kind}.service`, 'required: [<namespace>/]<hostname> of the authorizer');
      if (typeof c.port !== 'number' || !Number.isInteger(c.port) || c.port < 1 || c.port > 65535) e.add(`${path}.${kind}.port`, `must be a port between 1 and 65535, got ${JSON.stringify(c.port)}`);
      for (const [field, value] of Object.entries(c)) {
        if (fields.includes(field as never) && !HTTP_FIELDS[field]!(value)) e.add(`${path}.${kind}.${field}`, `has the wrong type: ${JSON.stringify(value)}`);
      }
    }
  });
  return e.errors;
}

/** Parses a MeshConfig file's text; throws an Error listing every problem with its field. */
export function parseMeshConfig(text: string, source: string): MeshConfig {
  let mesh: unknown;
  try {
    mesh = yaml.load(text) ?? {};
  } catch (err) {
    throw new Error(`${source}: not YAML: ${(err as Error).message}`, { cause: err });
  }
  const errors = validateMeshConfig(mesh);
  if (errors.length > 0) throw new Error(`${source}: ${errors.map((x) => (x.path ? `${x.path}: ${x.message}` : x.message)).join('; ')}`);
  const m = mesh as MeshConfig;
  // Only the providers Trellis can serve are kept; others (tracing, OpenTelemetry, gRPC access log services) are not its business yet.
  return {
    extensionProviders: (m.extensionProviders ?? []).filter((p: ExtensionProvider) => p.envoyExtAuthzHttp || p.envoyExtAuthzGrpc || p.envoyFileAccessLog),
    trustDomainAliases: m.trustDomainAliases ?? [],
    ...(m.defaultProviders?.accessLogging ? { defaultProviders: { accessLogging: m.defaultProviders.accessLogging } } : {}),
    ...(m.accessLogEncoding ? { accessLogEncoding: m.accessLogEncoding } : {}),
    ...(m.accessLogFormat ? { accessLogFormat: m.accessLogFormat } : {}),
    ...(typeof m.enablePrometheusMerge === 'boolean' ? { enablePrometheusMerge: m.enablePrometheusMerge } : {}),
  };
}
