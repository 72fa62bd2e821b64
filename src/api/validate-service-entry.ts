// ServiceEntry validation with Istio's rules.
import type { ServiceEntrySpec } from './service-entry.js';
import { validateExportTo, validateLabels } from './validate-common.js';
import { ErrorList, entries, isSet, list, type ValidationError } from './validate-errors.js';
import { cidrProblem, hostProblem, isDnsName, isIPAddress, portProblem, protocolProblem } from './validate-primitives.js';

export function validateServiceEntry(spec: ServiceEntrySpec): ValidationError[] {
  const e = new ErrorList();
  const hosts = list(spec.hosts);
  if (hosts.length === 0) e.add('spec.hosts', 'at least one host is required');
  const seenHosts = new Set<string>();
  hosts.forEach((host, i) => {
    const p = `spec.hosts[${i}]`;
    if (seenHosts.has(host)) e.add(p, `duplicate host ${JSON.stringify(host)}`);
    else if (host === '*') e.add(p, 'host "*" is not allowed; use a domain name or a wildcard such as *.example.com');
    else e.check(p, hostProblem(host, { wildcard: true }));
    seenHosts.add(host);
  });
  list(spec.addresses).forEach((address, i) => e.check(`spec.addresses[${i}]`, cidrProblem(address)));

  const portNames = new Set<string>();
  const portNumbers = new Set<number>();
  list(spec.ports).forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (portNumbers.has(port.number)) e.add(`${p}.number`, `duplicate port ${port.number}`);
    else e.check(`${p}.number`, portProblem(port.number));
    portNumbers.add(port.number);
    if (!port.name) e.add(`${p}.name`, 'required');
    else if (portNames.has(port.name)) e.add(`${p}.name`, `duplicate port name ${JSON.stringify(port.name)}`);
    portNames.add(port.name);
    if (isSet(port.protocol) && port.protocol !== '') e.check(`${p}.protocol`, protocolProblem(port.protocol));
    if (isSet(port.targetPort) && port.targetPort !== 0) e.check(`${p}.targetPort`, portProblem(port.targetPort));
  });

  const endpoints = list(spec.endpoints);
  const resolution = spec.resolution ?? 'NONE';
  if (isSet(spec.workloadSelector) && endpoints.length > 0) {
    e.add('spec.workloadSelector', 'cannot be combined with endpoints');
  }
  if ((resolution === 'NONE' || resolution === 'DYNAMIC_DNS') && endpoints.length > 0) {
    e.add('spec.endpoints', `must be empty for resolution ${resolution}; set resolution STATIC or DNS to use endpoints`);
  }
  if (resolution === 'STATIC' && endpoints.length === 0 && !isSet(spec.workloadSelector)) {
    e.add('spec.endpoints', 'resolution STATIC needs endpoints or a workloadSelector');
  }
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

  endpoints.forEach((ep, i) => {
    const p = `spec.endpoints[${i}]`;
    const address = ep.address;
    if (!address) e.add(`${p}.address`, 'required');
    else if (resolution === 'STATIC' && !isIPAddress(address) && !address.startsWith('unix://')) {
      e.add(`${p}.address`, `resolution STATIC needs an IP address or a unix:// path, got ${JSON.stringify(address)}`);
    } else if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && !isIPAddress(address) && !isDnsName(address)) {
      e.add(`${p}.address`, `must be an IP address or a host name, got ${JSON.stringify(address)}`);
    }
    for (const [name, number] of entries(ep.ports)) {
      if (!portNames.has(name)) e.add(`${p}.ports[${name}]`, `no port named ${JSON.stringify(name)} in spec.ports`);
      else e.check(`${p}.ports[${name}]`, portProblem(number));
    }
    validateLabels(e, `${p}.labels`, ep.labels);
  });
  if (isSet(spec.workloadSelector)) validateLabels(e, 'spec.workloadSelector.labels', spec.workloadSelector.labels);
  list(spec.subjectAltNames).forEach((san, i) => {
    if (san === '') e.add(`spec.subjectAltNames[${i}]`, 'must not be empty');
  });
  validateExportTo(e, spec.exportTo);
  return e.errors;
}
