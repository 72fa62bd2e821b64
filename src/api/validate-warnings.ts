// What Istio accepts with a warning: the object is valid, and the user is told that part of it
// has no effect, is deprecated, or may not do what it seems to. Each warning names the field.
// The validating webhook returns them as admission warnings (kubectl prints them) and the
// controllers add them to the object's `Warnings` condition. Only valid objects are warned about.
import { isIP } from 'node:net';
import type { DestinationRuleSpec, TrafficPolicy } from './destination-rule.js';
import type { ServiceEntrySpec } from './service-entry.js';
import { entries, ErrorList, isSet, list, type ValidationError } from './validate-errors.js';
import type { HTTPMatchRequest, VirtualServiceSpec } from './virtual-service.js';

export function destinationRuleWarnings(spec: DestinationRuleSpec): ValidationError[] {
  const w = new ErrorList();
  const policy = (path: string, p: TrafficPolicy | undefined): void => {
    if (!p) return;
    const lb = p.loadBalancer;
    const withoutOutlier = (what: string) => `${what} takes effect only with outlierDetection, which this traffic policy does not set`;
    if (!isSet(p.outlierDetection)) {
      if (list(lb?.localityLbSetting?.failover).length > 0) w.add(`${path}.loadBalancer.localityLbSetting.failover`, withoutOutlier('failover'));
      if (list(lb?.localityLbSetting?.failoverPriority).length > 0) w.add(`${path}.loadBalancer.localityLbSetting.failoverPriority`, withoutOutlier('failoverPriority'));
      // zoneAwareLbSetting is newer than the typed API here: read as Istio's field.
      const zoneAware = (lb as { zoneAwareLbSetting?: { failoverPriority?: string[] } } | undefined)?.zoneAwareLbSetting;
      if (list(zoneAware?.failoverPriority).length > 0) w.add(`${path}.loadBalancer.zoneAwareLbSetting.failoverPriority`, withoutOutlier('failoverPriority'));
    }
    if (isSet(p.outlierDetection?.consecutiveErrors)) w.add(`${path}.outlierDetection.consecutiveErrors`, 'is deprecated: use consecutive5xxErrors or consecutiveGatewayErrors');
    list(p.portLevelSettings).forEach((s, i) => policy(`${path}.portLevelSettings[${i}]`, s as TrafficPolicy));
  };
  policy('spec.trafficPolicy', spec.trafficPolicy);
  list(spec.subsets).forEach((s, i) => policy(`spec.subsets[${i}].trafficPolicy`, s.trafficPolicy));
  if (isSet(spec.workloadSelector) && entries(spec.workloadSelector.matchLabels).length === 0) {
    w.add('spec.workloadSelector', 'has no labels: the rule applies to every workload of its namespace');
  }
  return w.errors;
}

/** Protocols whose traffic a sidecar tells apart by host (HTTP) or by SNI (TLS). */
const BY_HOST = new Set(['HTTP', 'HTTP2', 'HTTP_PROXY', 'GRPC', 'GRPC-WEB']);

export function serviceEntryWarnings(spec: ServiceEntrySpec): ValidationError[] {
  const w = new ErrorList();
  const ports = list(spec.ports);
  const resolution = spec.resolution ?? 'NONE';
  const selector = spec.workloadSelector;
  list(spec.hosts).forEach((h, i) => {
    if (typeof h === 'string' && h.startsWith('*') && !h.startsWith('*.') && h !== '*') w.add(`spec.hosts[${i}]`, `the partial wildcard "${h}" matches any host ending in "${h.slice(1)}", not only subdomains`);
  });
  list(spec.endpoints).forEach((e, i) => {
    if (e && isSet(e.network) && !isSet(e.address)) w.add(`spec.endpoints[${i}].address`, `is unset: the endpoint is reached only through network ${e.network}'s gateway`);
  });
  if (list(spec.addresses).length === 0 && resolution === 'NONE') {
    ports.forEach((p, i) => {
      const protocol = (p?.protocol ?? '').toUpperCase();
      if (!BY_HOST.has(protocol)) w.add(`spec.ports[${i}]`, `${protocol || 'a port without protocol'} on port ${p?.number} with no addresses: the entry captures every connection to that port, whatever its destination`);
    });
  }
  if (list(spec.addresses).length > 0 && list(spec.hosts).length > 1 && resolution === 'DNS') {
    ports.forEach((p, i) => {
      const protocol = (p?.protocol ?? '').toUpperCase();
      if (!BY_HOST.has(protocol)) w.add(`spec.ports[${i}]`, `${protocol || 'this port'} on port ${p?.number}: several hosts share the addresses, and only HTTP tells them apart`);
    });
  }
  if (isSet(selector)) {
    if (entries(selector.labels).length === 0) w.add('spec.workloadSelector', 'has no labels: it selects every workload entry and pod of the namespace');
    if (resolution === 'NONE') w.add('spec.resolution', 'NONE with a workloadSelector: the selected workloads are not used as endpoints; use STATIC');
  }
  if (resolution === 'NONE') {
    ports.forEach((p, i) => {
      if (isSet(p?.targetPort)) w.add(`spec.ports[${i}].targetPort`, 'has no effect with resolution NONE: connections keep their original destination port');
    });
  }
  return w.errors;
}

/** Whether match `later` can only match requests `earlier` (a uri alone) already matches. */
function covered(earlier: HTTPMatchRequest, later: HTTPMatchRequest): boolean {
  const keys = Object.keys(earlier).filter((k) => isSet((earlier as Record<string, unknown>)[k]));
  if (keys.length !== 1 || keys[0] !== 'uri' || earlier.ignoreUriCase) return false;
  const a = earlier.uri ?? {};
  const b = later.uri;
  if (!b) return a.prefix === '/' || a.prefix === '';
  const path = b.exact ?? b.prefix;
  if (path === undefined) return false;
  if (a.prefix !== undefined) return path.startsWith(a.prefix);
  return a.exact !== undefined && b.exact !== undefined && a.exact === b.exact;
}

export function virtualServiceWarnings(spec: VirtualServiceSpec): ValidationError[] {
  const w = new ErrorList();
  list(spec.gateways).forEach((g, i) => {
    if (typeof g === 'string' && !g.includes('/') && g.includes('.') && g !== 'mesh') w.add(`spec.gateways[${i}]`, `names gateway "${g}" as a domain name: use <namespace>/<name>`);
  });
  list(spec.http).forEach((r, i) => {
    if (isSet(r.mirrorPercent)) w.add(`spec.http[${i}].mirrorPercent`, 'is deprecated: use mirrorPercentage');
    const matches = list(r.match);
    matches.forEach((m, j) => {
      const earlier = matches.slice(0, j).findIndex((e) => e && m && covered(e, m));
      if (earlier >= 0) w.add(`spec.http[${i}].match[${j}]`, `is ineffective: match[${earlier}] already matches every request it would`);
    });
  });
  list(spec.tls).forEach((r, i) => {
    list(r.match).forEach((m, j) => {
      list(m.sniHosts).forEach((h, k) => {
        if (typeof h === 'string' && isIP(h) !== 0) w.add(`spec.tls[${i}].match[${j}].sniHosts[${k}]`, `"${h}" is an IP address: clients do not send one as SNI`);
      });
    });
  });
  return w.errors;
}
