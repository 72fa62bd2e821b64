// `trellisctl proxy-config clusters|listeners|routes|endpoints|secrets|authorization POD`: what
// Trellis gives one proxy (the control plane's /debug/config_dump?proxy=ID; an Envoy admin
// /config_dump of the proxy reads the same), shown as a table with each resource's key fields,
// or with -o json as the resources themselves (private keys redacted by the dump).
// `authorization` lists, per listener filter chain, the JWT, RBAC and ext_authz filters in the
// order Envoy runs them: what decides who may call the workload.
import { X509Certificate } from 'node:crypto';
import type { ConfigDump } from './control-plane.js';
import { clip, table } from './table.js';

export const CONFIG_KINDS = ['clusters', 'listeners', 'routes', 'endpoints', 'secrets', 'authorization'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** Where each kind sits in a ConfigDump: the section's @type and its dynamic entries. */
const SECTIONS: Record<ConfigKind, { type: string; list: string; item: (e: Json) => unknown }> = {
  authorization: { type: 'ListenersConfigDump', list: 'dynamic_listeners', item: (e) => obj(e.active_state).listener ?? obj(e.warming_state).listener },
  clusters: { type: 'ClustersConfigDump', list: 'dynamic_active_clusters', item: (e) => e.cluster },
  listeners: { type: 'ListenersConfigDump', list: 'dynamic_listeners', item: (e) => obj(e.active_state).listener ?? obj(e.warming_state).listener },
  routes: { type: 'RoutesConfigDump', list: 'dynamic_route_configs', item: (e) => e.route_config },
  endpoints: { type: 'EndpointsConfigDump', list: 'dynamic_endpoint_configs', item: (e) => e.endpoint_config },
  secrets: { type: 'SecretsConfigDump', list: 'dynamic_active_secrets', item: (e) => e.secret },
};

const SHORT: Record<ConfigKind, 'cds' | 'lds' | 'rds' | 'eds' | 'sds'> = { clusters: 'cds', listeners: 'lds', routes: 'rds', endpoints: 'eds', secrets: 'sds', authorization: 'lds' };

/** The resources of one kind in a dump (of an Envoy dump, the dynamic ones: what xDS sent). */
export function resourcesOf(dump: ConfigDump, kind: ConfigKind): Json[] {
  // Authorization reads the listeners' filters and the routes' per-route rules.
  if (kind === 'authorization') return [...resourcesOf(dump, 'listeners'), ...resourcesOf(dump, 'routes')];
  if ('resources' in dump) return Object.values(dump.resources[SHORT[kind]] ?? {}).map(obj);
  const s = SECTIONS[kind];
  return dump.configs
    .filter((c) => c['@type'].endsWith(`.${s.type}`))
    .flatMap((c) => arr(c[s.list]))
    .map((e) => obj(s.item(e)))
    .filter((r) => Object.keys(r).length > 0);
}

const socket = (address: unknown): { ip: string; port: string } => {
  const sa = obj(obj(address).socket_address);
  return { ip: str(sa.address) || '-', port: str(sa.port_value) || '0' };
};

/** Istio's cluster names: `outbound|80|v1|reviews.default.svc.cluster.local`. */
function clusterRow(c: Json): string[] {
  const name = str(c.name);
  const parts = name.split('|');
  const [direction, port, subset, fqdn] = parts.length === 4 ? parts : ['-', '-', '-', name];
  const type = str(c.type) || str(obj(c.cluster_type).name) || 'STATIC';
  const tls = c.transport_socket || c.transport_socket_matches ? 'yes' : '-';
  return [fqdn || '-', port || '-', subset || '-', direction, type, str(c.lb_policy) || 'ROUND_ROBIN', tls];
}

/** What a filter chain hands traffic to: an RDS route table, inline routes, or a TCP cluster. */
function chainDestinations(chain: Json): string[] {
  return arr(chain.filters).flatMap((f) => {
    const tc = obj(f.typed_config);
    const t = str(tc['@type']);
    if (t.endsWith('.HttpConnectionManager')) {
      const rds = str(obj(tc.rds).route_config_name);
      if (rds) return [`Route: ${rds}`];
      const inline = obj(tc.route_config);
      return [`Inline routes: ${str(inline.name) || `${arr(inline.virtual_hosts).length} vhosts`}`];
    }
    if (t.endsWith('.TcpProxy')) {
      const weighted = arr(obj(tc.weighted_clusters).clusters).map((w) => `${str(w.name)} ${str(w.weight)}`);
      return [`Cluster: ${str(tc.cluster) || weighted.join(', ')}`];
    }
    if (!t) return [`${str(f.name) || 'filter'} (config not decoded)`];
    return [];
  });
}

function listenerRow(l: Json): string[] {
  const { ip, port } = socket(l.address);
  const chains = arr(l.filter_chains);
  const all = [...chains, ...(l.default_filter_chain ? [obj(l.default_filter_chain)] : [])];
  const dest = [...new Set(all.flatMap(chainDestinations))];
  // A BoolValue: `true` in Envoy's JSON, `{value: true}` as Trellis builds it.
  const original = l.use_original_dst === true || obj(l.use_original_dst).value === true ? ' (original dst)' : '';
  return [str(l.name), ip, port + original, String(all.length), clip(dest.join('; ') || '-', 100)];
}

function matchText(m: Json): string {
  const path =
    (m.prefix !== undefined && `prefix ${str(m.prefix) || '/'}`) ||
    (m.path !== undefined && `path ${str(m.path)}`) ||
    (m.safe_regex !== undefined && `regex ${str(obj(m.safe_regex).regex)}`) ||
    (m.path_separated_prefix !== undefined && `prefix ${str(m.path_separated_prefix)}/`) ||
    '*';
  const headers = arr(m.headers).map((h) => str(h.name));
  return headers.length ? `${path} + headers ${headers.join(',')}` : path;
}

function routeDestination(r: Json): string {
  const action = obj(r.route);
  if (r.route) {
    if (action.cluster) return str(action.cluster);
    const weighted = arr(obj(action.weighted_clusters).clusters);
    if (weighted.length) return weighted.map((w) => `${str(w.name)} ${str(obj(w.weight).value ?? w.weight)}`.trim()).join(', ');
    if (action.cluster_header) return `cluster from header ${str(action.cluster_header)}`;
  }
  if (r.redirect) return 'redirect';
  if (r.direct_response) return `status ${str(obj(r.direct_response).status)}`;
  return '-';
}

function routeRows(rc: Json): string[][] {
  const name = str(rc.name);
  const vhosts = arr(rc.virtual_hosts);
  if (vhosts.length === 0) return [[name, '-', '-', '-', '-']];
  return vhosts.flatMap((vh) => {
    const domains = (Array.isArray(vh.domains) ? vh.domains : []).map(str);
    const shown = domains.length > 2 ? `${domains[0]} +${domains.length - 1} more` : domains.join(',');
    const routes = arr(vh.routes);
    if (routes.length === 0) return [[name, str(vh.name), shown || '-', '-', '-']];
    return routes.map((r) => [name, str(vh.name), shown || '-', matchText(obj(r.match)), clip(routeDestination(r), 80)]);
  });
}

function endpointRows(cla: Json): string[][] {
  const cluster = str(cla.cluster_name);
  const rows = arr(cla.endpoints).flatMap((group) => {
    const loc = obj(group.locality);
    const locality = [str(loc.region), str(loc.zone), str(loc.sub_zone)].filter(Boolean).join('/') || '-';
    return arr(group.lb_endpoints).map((e) => {
      const { ip, port } = socket(obj(e.endpoint).address);
      const weight = str(obj(e.load_balancing_weight).value ?? e.load_balancing_weight) || '1';
      return [`${ip}:${port}`, str(e.health_status) || 'UNKNOWN', weight, locality, cluster];
    });
  });
  return rows.length ? rows : [['-', '-', '-', '-', cluster]];
}

/** When the first certificate of inline PEM bytes (base64 in a dump) expires, or `-`. */
function notAfter(source: Json): string {
  const b64 = str(source.inline_bytes);
  if (!b64) return '-';
  try {
    return new Date(new X509Certificate(Buffer.from(b64, 'base64')).validTo).toISOString();
  } catch {
    return '-';
  }
}

/** A certificate with its key, or the CA certificates that verify peers (Istio's `-cacert` names). */
function secretRow(s: Json): string[] {
  const cert = obj(s.tls_certificate);
  if (s.tls_certificate) return [str(s.name), 'Cert Chain', notAfter(obj(cert.certificate_chain))];
  if (s.validation_context) {
    const ca = obj(obj(s.validation_context).trusted_ca);
    return [str(s.name), Object.keys(ca).length ? 'CA' : 'CA (none: peers not verified)', notAfter(ca)];
  }
  return [str(s.name), '-', '-'];
}

/** One security filter as a row: what it is, its action, and the policies or issuers it holds. */
function securityFilterRow(listener: string, chain: string, f: Json, perRoute: Json): string[] | undefined {
  const name = str(f.name);
  // An inbound RBAC filter's rules come per route (authz-chain.ts): show those.
  const routeRbac = obj(obj(perRoute[name]).rbac);
  const tc = perRoute[name] ? routeRbac : obj(f.typed_config);
  if (name.includes('.rbac')) {
    // No rules at all: the filter lets everything through (an inbound filter whose route has none).
    if (!tc.rules && !tc.shadow_rules) return undefined;
    const rules = obj(tc.rules);
    const shadow = obj(tc.shadow_rules);
    const custom = str(tc.shadow_rules_stat_prefix) === 'istio_ext_authz_';
    const enforced = tc.rules ? `${str(rules.action) || 'ALLOW'}` : '';
    const dryRun = tc.shadow_rules ? `${str(shadow.action) || 'ALLOW'} (${custom ? 'selects for ext_authz' : 'dry-run'})` : '';
    const policies = [...Object.keys(obj(rules.policies)), ...Object.keys(obj(shadow.policies))];
    return [listener, chain, 'rbac', [enforced, dryRun].filter(Boolean).join(' + '), clip(policies.join(', ') || '(none: nothing matches)', 100)];
  }
  if (name.endsWith('.ext_authz')) {
    const grpc = str(obj(obj(tc.grpc_service).envoy_grpc).cluster_name);
    const http = str(obj(obj(tc.http_service).server_uri).cluster);
    return [listener, chain, 'ext_authz', tc.failure_mode_allow === true ? 'CUSTOM (fail open)' : 'CUSTOM', grpc ? `gRPC ${grpc}` : `HTTP ${http}`];
  }
  if (name.endsWith('.jwt_authn')) {
    const issuers = Object.values(obj(tc.providers)).map((p) => str(obj(p).issuer));
    return [listener, chain, 'jwt_authn', 'AUTHENTICATE', clip(issuers.join(', '), 100)];
  }
  return undefined;
}

function authorizationRows(l: Json, routes: ReadonlyMap<string, Json>): string[][] {
  const listener = str(l.name);
  const chains = [...arr(l.filter_chains), ...(l.default_filter_chain ? [obj(l.default_filter_chain)] : [])];
  return chains.flatMap((chain) =>
    arr(chain.filters).flatMap((f) => {
      const tc = obj(f.typed_config);
      const hcm = str(tc['@type']).endsWith('.HttpConnectionManager');
      const filters = hcm ? arr(tc.http_filters) : [f];
      const route = routes.get(str(obj(tc.rds).route_config_name));
      const perRoute = obj(arr(route?.virtual_hosts)[0]?.typed_per_filter_config);
      return filters.map((x) => securityFilterRow(listener, str(chain.name) || '-', x, perRoute)).filter((r): r is string[] => r !== undefined);
    }),
  );
}

const HEADERS: Record<ConfigKind, string[]> = {
  authorization: ['LISTENER', 'CHAIN', 'FILTER', 'ACTION', 'POLICIES / ISSUERS'],
  clusters: ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'LB', 'TLS'],
  listeners: ['NAME', 'ADDRESS', 'PORT', 'CHAINS', 'DESTINATION'],
  routes: ['NAME', 'VIRTUAL HOST', 'DOMAINS', 'MATCH', 'DESTINATION'],
  endpoints: ['ENDPOINT', 'STATUS', 'WEIGHT', 'LOCALITY', 'CLUSTER'],
  secrets: ['NAME', 'TYPE', 'NOT AFTER'],
};

/** Rows sort by their cells, numbers as numbers (port 80 before 443). */
const byCells = (a: readonly string[], b: readonly string[]): number => {
  for (let i = 0; i < a.length; i++) {
    const c = a[i].localeCompare(b[i], undefined, { numeric: true });
    if (c !== 0) return c;
  }
  return 0;
};

export function proxyConfigTable(kind: ConfigKind, resources: readonly Json[]): string {
  const rows: string[][] =
    kind === 'clusters'
      ? resources.map(clusterRow)
      : kind === 'listeners'
        ? resources.map(listenerRow)
        : kind === 'routes'
          ? resources.flatMap(routeRows)
          : kind === 'secrets'
            ? resources.map(secretRow)
            : kind === 'authorization'
            ? (() => {
                const routes = new Map(resources.filter((r) => r.virtual_hosts).map((r) => [str(r.name), r]));
                return resources.filter((r) => !r.virtual_hosts).flatMap((l) => authorizationRows(l, routes));
              })()
            : resources.flatMap(endpointRows);
  // Routes keep their order within a virtual host (the first match wins), filters the order
  // Envoy runs them in: only other kinds are sorted.
  if (kind === 'authorization') {
    if (rows.length === 0) return 'no authorization or JWT filters: no AuthorizationPolicy or RequestAuthentication applies to this proxy\n';
  } else if (kind === 'routes') {
    const order = [...new Set(rows.map((r) => r[0]))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    rows.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
  } else if (kind === 'endpoints') {
    rows.sort((a, b) => byCells([a[4], a[0]], [b[4], b[0]]));
  } else {
    rows.sort(byCells);
  }
  return table(HEADERS[kind], rows);
}

/** `-o json`: the resources of one kind, as the dump holds them (what the golden translation cases keep too). */
export function proxyConfigJson(dump: ConfigDump, kind: ConfigKind): string {
  return `${JSON.stringify(resourcesOf(dump, kind), null, 2)}\n`;
}
