// Sidecar validation with Istio's rules (its webhook's ValidateSidecar): a selector with labels
// and no wildcards, at least one of egress, ingress, outboundTrafficPolicy or
// inboundConnectionPool, unique ports, at most one catch-all egress listener and it last, hosts
// of the form `<namespace>/<dnsName>`, defaultEndpoint on a loopback or unspecified address or a
// unix socket, the TLS modes a sidecar can serve, egressProxy only with ALLOW_ANY.
import { CAPTURE_MODES, OUTBOUND_TRAFFIC_POLICY_MODES, type IstioEgressListener, type IstioIngressListener, type OutboundTrafficPolicy, type SidecarPort, type SidecarSpec } from './sidecar.js';
import { validateConnectionPool } from './validate-destination-rule.js';
import { ErrorList, entries, isSet, list, type ValidationError } from './validate-errors.js';
import { validateServerTls } from './validate-gateway.js';
import { hostProblem, isIPAddress, labelKeyProblem, labelValueProblem, namespaceProblem, portProblem, protocolProblem, unixSocketPathProblem } from './validate-primitives.js';
import { validateDestination } from './validate-virtual-service.js';

const UNIX_PREFIX = 'unix://';
const DEFAULT_ENDPOINT_HOSTS = ['127.0.0.1', '0.0.0.0', '::1', '::'];
const TLS_PROTOCOLS = ['HTTPS', 'TLS'];
const HTTP_PROTOCOLS = ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY'];

export function validateSidecar(spec: SidecarSpec): ValidationError[] {
  const e = new ErrorList();
  validateWorkloadSelector(e, spec);
  const ingress = list(spec.ingress);
  const egress = list(spec.egress);
  if (egress.length === 0 && ingress.length === 0 && !isSet(spec.outboundTrafficPolicy) && !isSet(spec.inboundConnectionPool)) {
    e.add('spec', 'empty configuration: set at least one of egress, ingress, outboundTrafficPolicy or inboundConnectionPool');
    return e.errors;
  }
  const ingressPorts = new Set<number>();
  ingress.forEach((l, i) => validateIngress(e, `spec.ingress[${i}]`, l, ingressPorts));
  if (isSet(spec.inboundConnectionPool)) validateConnectionPool(e, 'spec.inboundConnectionPool', spec.inboundConnectionPool);
  const egressPorts = new Set<number>();
  const sockets = new Set<string>();
  egress.forEach((l, i) => validateEgress(e, `spec.egress[${i}]`, l, { last: i === egress.length - 1, ports: egressPorts, sockets }));
  if (isSet(spec.outboundTrafficPolicy)) validateOutboundTrafficPolicy(e, 'spec.outboundTrafficPolicy', spec.outboundTrafficPolicy);
  return e.errors;
}

/** Istio accepts but warns: a selector without labels (it then selects the whole namespace), duplicate egress hosts, `*∕*` beside other hosts. */
export function sidecarWarnings(spec: SidecarSpec, namespace: string): ValidationError[] {
  const e = new ErrorList();
  if (isSet(spec.workloadSelector) && entries(spec.workloadSelector.labels).length === 0) {
    e.add('spec.workloadSelector', 'has no labels: this Sidecar applies to every workload of the namespace');
  }
  list(spec.egress).forEach((l, i) => {
    const seen = new Map<string, Set<string>>();
    list(l?.hosts).forEach((h, j) => {
      if (typeof h !== 'string') return;
      const slash = h.indexOf('/');
      if (slash < 0) return;
      const ns = h.slice(0, slash) === '.' ? namespace : h.slice(0, slash);
      const name = h.slice(slash + 1);
      const names = seen.get(ns) ?? new Set<string>();
      if (name === '*' ? names.size > 0 : names.has(name) || names.has('*')) e.add(`spec.egress[${i}].hosts[${j}]`, `duplicated egress host ${JSON.stringify(h)}`);
      seen.set(ns, names.add(name));
    });
    if (seen.get('*')?.has('*') && seen.size > 1) e.add(`spec.egress[${i}].hosts`, '"*/*" selects everything: the other hosts of this listener add nothing');
  });
  list(spec.ingress).forEach((l, i) => {
    const protocol = typeof l?.port?.protocol === 'string' ? l.port.protocol.toUpperCase() : '';
    if (isSet(l?.connectionPool?.http) && !HTTP_PROTOCOLS.includes(protocol)) {
      e.add(`spec.ingress[${i}].connectionPool.http`, `port ${l.port.number} is not HTTP (${l.port.protocol}): only the TCP settings apply`);
    }
  });
  return e.errors;
}

function validateWorkloadSelector(e: ErrorList, spec: SidecarSpec): void {
  for (const [key, value] of entries(spec.workloadSelector?.labels)) {
    const p = `spec.workloadSelector.labels[${key}]`;
    if (key.includes('*') || (typeof value === 'string' && value.includes('*'))) e.add(p, `wildcard is not supported in a selector: ${JSON.stringify(`${key}=${value}`)}`);
    else {
      e.check(p, key === '' ? 'label key must not be empty' : labelKeyProblem(key));
      e.check(p, labelValueProblem(value));
    }
  }
}

function validatePort(e: ErrorList, p: string, port: SidecarPort, opts: { unix: boolean }): void {
  if (isSet(port.name) && port.name !== '') e.check(`${p}.name`, port.name.length <= 253 && /^[a-zA-Z0-9-_.]+$/.test(port.name) ? undefined : `invalid port name ${JSON.stringify(port.name)}`);
  e.check(`${p}.protocol`, protocolProblem(port.protocol));
  if (!opts.unix) e.check(`${p}.number`, portProblem(port.number));
  if (typeof port.targetPort === 'number' && port.targetPort > 0) e.add(`${p}.targetPort`, 'has no effect on a Sidecar; remove it');
}

function validateBindAddress(e: ErrorList, p: string, bind: unknown): void {
  if (isSet(bind) && bind !== '' && !(typeof bind === 'string' && isIPAddress(bind))) e.add(p, `must be an IP address, got ${JSON.stringify(bind)}`);
}

function validateIngress(e: ErrorList, p: string, l: IstioIngressListener, ports: Set<number>): void {
  if (!isSet(l)) {
    e.add(p, 'may not be null');
    return;
  }
  if (!isSet(l.port)) {
    e.add(`${p}.port`, 'required for ingress listeners');
    return;
  }
  validatePort(e, `${p}.port`, l.port, { unix: false });
  validateBindAddress(e, `${p}.bind`, l.bind);
  if (typeof l.port.number === 'number') {
    if (ports.has(l.port.number)) e.add(`${p}.port.number`, `ports on IP bound listeners must be unique, ${l.port.number} is used twice`);
    ports.add(l.port.number);
  }
  if (isSet(l.captureMode)) e.check(`${p}.captureMode`, CAPTURE_MODES.includes(l.captureMode) ? undefined : `must be one of ${CAPTURE_MODES.join(', ')}`);
  if (isSet(l.defaultEndpoint) && l.defaultEndpoint !== '') e.check(`${p}.defaultEndpoint`, defaultEndpointProblem(l.defaultEndpoint));
  if (isSet(l.tls)) validateIngressTls(e, `${p}.tls`, l);
  if (isSet(l.connectionPool)) validateConnectionPool(e, `${p}.connectionPool`, l.connectionPool);
}

/** `127.0.0.1:<port>`, `0.0.0.0:<port>`, `[::1]:<port>`, `[::]:<port>`, `:<port>` or `unix://<path>`. */
function defaultEndpointProblem(value: string): string | undefined {
  if (value.startsWith(UNIX_PREFIX)) return unixSocketPathProblem(value.slice(UNIX_PREFIX.length), '/var/run/app.sock');
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(value);
  const form = 'must be of form 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port> or unix://<path>';
  if (!m) return `${form}, got ${JSON.stringify(value)}`;
  const host = m[1] ?? m[2];
  if (host !== '' && !DEFAULT_ENDPOINT_HOSTS.includes(host)) return `${form}, got ${JSON.stringify(value)}`;
  if (!/^\d+$/.test(m[3])) return `port ${JSON.stringify(m[3])} is not a number`;
  return portProblem(Number(m[3]));
}

function validateIngressTls(e: ErrorList, p: string, l: IstioIngressListener): void {
  const tls = l.tls!;
  if (list(tls.subjectAltNames).length > 0) e.add(`${p}.subjectAltNames`, 'not supported in sidecar ingress TLS');
  if (tls.httpsRedirect) e.add(`${p}.httpsRedirect`, 'not supported in sidecar ingress TLS');
  if (tls.credentialName) e.add(`${p}.credentialName`, 'not supported in sidecar ingress TLS');
  if (list(tls.credentialNames).length > 0) e.add(`${p}.credentialNames`, 'not supported in sidecar ingress TLS');
  if (list(tls.tlsCertificates).length > 0) e.add(`${p}.tlsCertificates`, 'not supported in sidecar ingress TLS');
  if (tls.mode === 'ISTIO_MUTUAL' || tls.mode === 'AUTO_PASSTHROUGH') e.add(`${p}.mode`, `cannot be ${tls.mode} in sidecar ingress TLS`);
  const protocol = typeof l.port.protocol === 'string' ? l.port.protocol.toUpperCase() : '';
  if (!TLS_PROTOCOLS.includes(protocol)) e.add(p, `TLS settings need an HTTPS or TLS port, got protocol ${JSON.stringify(l.port.protocol)}`);
  validateServerTls(e, p, tls);
}

interface EgressContext {
  last: boolean;
  ports: Set<number>;
  sockets: Set<string>;
}

function validateEgress(e: ErrorList, p: string, l: IstioEgressListener, ctx: EgressContext): void {
  if (!isSet(l)) {
    e.add(p, 'may not be null');
    return;
  }
  if (!isSet(l.port)) {
    // The catch-all listener takes what no port-specific listener took: so only one, the last.
    if (!ctx.last) e.add(p, 'the egress listener without a port must be the last one (there can be only one)');
  } else {
    validateEgressPort(e, p, l, ctx);
  }
  const hosts = list(l.hosts);
  if (hosts.length === 0) e.add(`${p}.hosts`, 'an egress listener must contain at least one host');
  hosts.forEach((h, i) => e.check(`${p}.hosts[${i}]`, egressHostProblem(h)));
}

function validateEgressPort(e: ErrorList, p: string, l: IstioEgressListener, ctx: EgressContext): void {
  const port = l.port!;
  const bind = typeof l.bind === 'string' ? l.bind : '';
  const unix = port.number === 0;
  validatePort(e, `${p}.port`, port, { unix });
  if (isSet(l.captureMode)) e.check(`${p}.captureMode`, CAPTURE_MODES.includes(l.captureMode) ? undefined : `must be one of ${CAPTURE_MODES.join(', ')}`);
  if (unix) {
    if (!bind.startsWith(UNIX_PREFIX)) e.add(`${p}.bind`, 'a listener with port 0 must bind a unix domain socket (unix://<path>)');
    else e.check(`${p}.bind`, unixSocketPathProblem(bind.slice(UNIX_PREFIX.length), '/var/run/egress.sock'));
    if (isSet(l.captureMode) && l.captureMode !== 'DEFAULT' && l.captureMode !== 'NONE') e.add(`${p}.captureMode`, 'must be DEFAULT or NONE for a unix domain socket listener');
    if (ctx.sockets.has(bind)) e.add(`${p}.bind`, `unix domain sockets of listeners must be unique, ${JSON.stringify(bind)} is used twice`);
    ctx.sockets.add(bind);
    return;
  }
  validateBindAddress(e, `${p}.bind`, l.bind);
  if (typeof port.number === 'number') {
    if (ctx.ports.has(port.number)) e.add(`${p}.port.number`, `ports on IP bound listeners must be unique, ${port.number} is used twice`);
    ctx.ports.add(port.number);
  }
}

/** `<namespace>/<dnsName>`: namespace `*`, `.`, `~` or a DNS label; dnsName `*` or a (wildcard) DNS name. */
export function egressHostProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `invalid host ${JSON.stringify(value)}: must be a string`;
  const quoted = JSON.stringify(value);
  const slash = value.indexOf('/');
  if (slash < 0) return `invalid host ${quoted}: must be of form <namespace>/<dnsName>, e.g. ./* or istio-system/*.example.com`;
  const ns = value.slice(0, slash);
  const name = value.slice(slash + 1);
  if (ns === '' || name === '') return `invalid host ${quoted}: neither the namespace nor the dnsName may be empty`;
  if (ns !== '*' && ns !== '.' && ns !== '~' && namespaceProblem(ns)) return `invalid namespace ${JSON.stringify(ns)} in host ${quoted}: use "*", ".", "~" or a namespace name`;
  return name === '*' ? undefined : hostProblem(name, { wildcard: true });
}

function validateOutboundTrafficPolicy(e: ErrorList, p: string, policy: OutboundTrafficPolicy): void {
  if (isSet(policy.mode) && !OUTBOUND_TRAFFIC_POLICY_MODES.includes(policy.mode)) e.add(`${p}.mode`, `must be one of ${OUTBOUND_TRAFFIC_POLICY_MODES.join(', ')}, got ${JSON.stringify(policy.mode)}`);
  if (!isSet(policy.egressProxy)) return;
  // An unset mode is REGISTRY_ONLY (the enum's zero value), as Istio reads it.
  if (policy.mode !== 'ALLOW_ANY') {
    e.add(`${p}.egressProxy`, 'may be set only with mode ALLOW_ANY');
    return;
  }
  if (!isSet(policy.egressProxy.port)) {
    e.add(`${p}.egressProxy.port`, 'required');
    return;
  }
  validateDestination(e, `${p}.egressProxy`, policy.egressProxy);
}
