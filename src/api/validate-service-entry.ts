// ServiceEntry validation with Istio's rules.
import type { ServiceEntrySpec, WorkloadEntry } from './service-entry.js';
import { validateExportTo, validateLabels } from './validate-common.js';
import { ErrorList, entries, isSet, list, type ValidationError } from './validate-errors.js';
import { cidrProblem, hostProblem, isDnsName, isIPAddress, portProblem, protocolProblem, unixSocketPathProblem } from './validate-primitives.js';

const UNIX_PREFIX = 'unix://';
const PORT_NAME = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
/** Protocols a DYNAMIC_DNS entry can serve: the proxy learns the real host from the Host header or the SNI. */
const DYNAMIC_DNS_PROTOCOLS = ['HTTP', 'HTTP2', 'HTTP_PROXY', 'GRPC', 'GRPC-WEB', 'TLS'];

export function validateServiceEntry(spec: ServiceEntrySpec): ValidationError[] {
  const e = new ErrorList();
  const hosts = list(spec.hosts);
  const resolution = spec.resolution ?? 'NONE';
  if (hosts.length === 0) e.add('spec.hosts', 'at least one host is required');
  const seenHosts = new Set<string>();
  hosts.forEach((host, i) => {
    const p = `spec.hosts[${i}]`;
    if (seenHosts.has(host)) e.add(p, `duplicate host ${JSON.stringify(host)}`);
    else if (host === '*') e.add(p, 'host "*" is not allowed; use a domain name or a wildcard such as *.example.com');
    else e.check(p, hostProblem(host, { wildcard: true }));
    seenHosts.add(host);
  });
  list(spec.addresses).forEach((address, i) => {
    const p = `spec.addresses[${i}]`;
    const problem = cidrProblem(address);
    if (problem) e.add(p, problem);
    else if (address.includes('/') && resolution !== 'NONE' && resolution !== 'STATIC') {
      e.add(p, `a CIDR block is allowed only with resolution NONE or STATIC, not ${resolution}; use a single IP address`);
    }
  });

  const portNames = new Set<string>();
  const portNumbers = new Set<number>();
  list(spec.ports).forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (portNumbers.has(port.number)) e.add(`${p}.number`, `duplicate port ${port.number}`);
    else e.check(`${p}.number`, portProblem(port.number));
    portNumbers.add(port.number);
    if (!port.name) e.add(`${p}.name`, 'required');
    else if (portNames.has(port.name)) e.add(`${p}.name`, `duplicate port name ${JSON.stringify(port.name)}`);
    else e.check(`${p}.name`, portNameProblem(port.name));
    portNames.add(port.name);
    if (isSet(port.protocol) && port.protocol !== '') e.check(`${p}.protocol`, protocolProblem(port.protocol));
    if (isSet(port.targetPort) && port.targetPort !== 0) e.check(`${p}.targetPort`, portProblem(port.targetPort));
  });

  const endpoints = list(spec.endpoints);
  if (isSet(spec.workloadSelector) && endpoints.length > 0) {
    e.add('spec.workloadSelector', 'cannot be combined with endpoints');
  }
  if ((resolution === 'NONE' || resolution === 'DYNAMIC_DNS') && endpoints.length > 0) {
    e.add('spec.endpoints', `must be empty for resolution ${resolution}; set resolution STATIC or DNS to use endpoints`);
  }
  if (resolution === 'DYNAMIC_DNS') validateDynamicDns(e, spec);
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints.length === 0) {
    hosts.forEach((host, i) => {
      if (host.startsWith('*') && host !== '*') {
        e.add(`spec.hosts[${i}]`, `resolution ${resolution} without endpoints needs a host name to resolve, not a wildcard`);
      }
    });
  }
  if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
    e.add('spec.endpoints', `resolution DNS_ROUND_ROBIN allows at most one endpoint, got ${endpoints.length}`);
  }

  endpoints.forEach((ep, i) => validateEndpoint(e, `spec.endpoints[${i}]`, ep, resolution, portNames));
  if (isSet(spec.workloadSelector)) validateLabels(e, 'spec.workloadSelector.labels', spec.workloadSelector.labels);
  list(spec.subjectAltNames).forEach((san, i) => {
    if (san === '') e.add(`spec.subjectAltNames[${i}]`, 'must not be empty');
  });
  validateExportTo(e, spec.exportTo);
  return e.errors;
}

/** A port name as Istio accepts it: a DNS label. */
function portNameProblem(name: string): string | undefined {
  if (name.length <= 63 && PORT_NAME.test(name)) return undefined;
  return `invalid port name ${JSON.stringify(name)}: use at most 63 letters, digits and '-', starting and ending with a letter or digit`;
}

/**
 * DYNAMIC_DNS resolves whatever name a request carries under a wildcard host, so the entry must be
 * all wildcards, have no fixed addresses, and serve only protocols that carry the name.
 */
function validateDynamicDns(e: ErrorList, spec: ServiceEntrySpec): void {
  list(spec.hosts).forEach((host, i) => {
    if (typeof host === 'string' && host !== '*' && !host.startsWith('*')) {
      e.add(`spec.hosts[${i}]`, `resolution DYNAMIC_DNS needs wildcard hosts such as *.example.com, got ${JSON.stringify(host)}; use resolution DNS for a single host`);
    }
  });
  if (list(spec.addresses).length > 0) e.add('spec.addresses', 'must be empty for resolution DYNAMIC_DNS');
  list(spec.ports).forEach((port, i) => {
    const protocol = typeof port.protocol === 'string' ? port.protocol.toUpperCase() : '';
    if (!DYNAMIC_DNS_PROTOCOLS.includes(protocol)) {
      e.add(`spec.ports[${i}].protocol`, `resolution DYNAMIC_DNS supports only ${DYNAMIC_DNS_PROTOCOLS.join(', ')}, got ${JSON.stringify(port.protocol ?? '')}`);
    }
  });
}

function validateEndpoint(e: ErrorList, p: string, ep: WorkloadEntry, resolution: string, portNames: Set<string>): void {
  const address = ep.address;
  const unix = typeof address === 'string' && address.startsWith(UNIX_PREFIX);
  if (!address) {
    // Istio lets a STATIC endpoint on another network omit its address (reached through that network's gateway).
    if (!(resolution === 'STATIC' && ep.network)) e.add(`${p}.address`, 'required');
  } else if (resolution === 'STATIC' && unix) {
    e.check(`${p}.address`, unixSocketPathProblem(address.slice(UNIX_PREFIX.length), '/var/run/app.sock'));
    if (entries(ep.ports).length > 0) e.add(`${p}.ports`, 'must be empty for a unix:// endpoint; a socket has no ports');
    if (portNames.size !== 1) {
      e.add(`${p}.address`, `a unix:// endpoint needs exactly one port in spec.ports, got ${portNames.size}`);
    }
  } else if (resolution === 'STATIC' && !isIPAddress(address)) {
    e.add(`${p}.address`, `resolution STATIC needs an IP address or a unix:// path, got ${JSON.stringify(address)}`);
  } else if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && !isIPAddress(address) && !isDnsName(address)) {
    e.add(`${p}.address`, `must be an IP address or a host name, got ${JSON.stringify(address)}`);
  }
  for (const [name, number] of entries(ep.ports)) {
    if (!portNames.has(name)) e.add(`${p}.ports[${name}]`, `no port named ${JSON.stringify(name)} in spec.ports`);
    else e.check(`${p}.ports[${name}]`, portProblem(number));
  }
  validateLabels(e, `${p}.labels`, ep.labels);
}

