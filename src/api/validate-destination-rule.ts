// DestinationRule validation with Istio's rules.
import type {
  ClientTLSSettings,
  ConsistentHashLB,
  ConnectionPoolSettings,
  DestinationRuleSpec,
  LoadBalancerSettings,
  LocalityLoadBalancerSetting,
  OutlierDetection,
  PortTrafficPolicyFields,
  TrafficPolicy,
} from './destination-rule.js';
import { validateExportTo, validateLabels } from './validate-common.js';
import { ErrorList, entries, isSet, list, type ValidationError } from './validate-errors.js';
import {
  durationProblem,
  headerNameProblem,
  hostProblem,
  isDnsName,
  isIPAddress,
  nonNegativeProblem,
  percentProblem,
  portProblem,
  subsetNameProblem,
} from './validate-primitives.js';

// Fields of the spec that destination-rule.ts does not describe (yet), read here only to validate them.
interface LocalityFailover {
  from?: string;
  to?: string;
}
interface ZoneAwareLbSetting {
  enabled?: boolean | null;
  minClusterSize?: number | null;
  failover?: LocalityFailover[];
  failoverPriority?: string[];
}
type LoadBalancer = LoadBalancerSettings & { zoneAwareLbSetting?: ZoneAwareLbSetting };
type HttpPool = NonNullable<ConnectionPoolSettings['http']> & { http2KeepAlive?: { interval?: string; timeout?: string } };

/** Node labels that name a locality level; failoverPriority may not use them alongside region failover. */
const TOPOLOGY_LABELS = ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone'];
/** Envoy's upper bound for a Maglev lookup table. */
const MAGLEV_TABLE_LIMIT = 5000011;

/**
 * `namespace` is the rule's own namespace; without it, a workloadSelector rule exported to a single
 * namespace name cannot be told apart from one exported to its own namespace, and is accepted.
 */
export function validateDestinationRule(spec: DestinationRuleSpec, namespace?: string): ValidationError[] {
  const e = new ErrorList();
  if (!isSet(spec.host) || spec.host === '') e.add('spec.host', 'required');
  else e.check('spec.host', hostProblem(spec.host, { wildcard: true }));
  if (isSet(spec.trafficPolicy)) validateTrafficPolicy(e, 'spec.trafficPolicy', spec.trafficPolicy);
  const names = new Set<string>();
  list(spec.subsets).forEach((subset, i) => {
    const p = `spec.subsets[${i}]`;
    if (names.has(subset.name)) e.add(`${p}.name`, `duplicate subset name ${JSON.stringify(subset.name)}`);
    else e.check(`${p}.name`, subsetNameProblem(subset.name));
    names.add(subset.name);
    validateLabels(e, `${p}.labels`, subset.labels);
    if (isSet(subset.trafficPolicy)) validateTrafficPolicy(e, `${p}.trafficPolicy`, subset.trafficPolicy);
  });
  validateExportTo(e, spec.exportTo);
  if (isSet(spec.workloadSelector)) {
    // No labels: Istio only warns (the rule then applies to every workload of its namespace).
    validateLabels(e, 'spec.workloadSelector.matchLabels', spec.workloadSelector.matchLabels);
    validateSelectorExportTo(e, spec.exportTo, namespace);
  }
  return e.errors;
}

/** A rule for selected workloads configures only its own namespace's proxies, so it is not exported. */
function validateSelectorExportTo(e: ErrorList, exportTo: readonly string[] | undefined, namespace: string | undefined): void {
  const values = list(exportTo);
  const rule = 'a DestinationRule with a workloadSelector can only be exported to its own namespace (".")';
  if (values.length > 1) {
    e.add('spec.exportTo', `${rule}: give a single entry, got ${values.length}`);
    return;
  }
  values.forEach((value, i) => {
    const own = value === '.' || (namespace !== undefined && value === namespace);
    const other = value === '*' || value === '~' || (namespace !== undefined && !own);
    if (other) e.add(`spec.exportTo[${i}]`, `${rule}, got ${JSON.stringify(value)}`);
  });
}

function validateTrafficPolicy(e: ErrorList, p: string, tp: TrafficPolicy): void {
  const fields = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'tunnel', 'proxyProtocol', 'retryBudget'] as const;
  if (!fields.some((k) => isSet(tp[k])) && list(tp.portLevelSettings).length === 0) {
    e.add(p, `must set at least one policy (${[...fields, 'portLevelSettings'].join(', ')}), or be left out`);
    return;
  }
  if (isSet(tp.tunnel) && isSet(tp.proxyProtocol)) e.add(p, 'tunnel and proxyProtocol cannot be set together');
  validatePortPolicy(e, p, tp);
  const ports = new Set<number>();
  list(tp.portLevelSettings).forEach((pls, i) => {
    const pp = `${p}.portLevelSettings[${i}]`;
    const number = pls.port?.number;
    if (!isSet(pls.port)) e.add(`${pp}.port`, 'required');
    else if (isSet(number) && ports.has(number)) e.add(`${pp}.port.number`, `duplicate port ${number}`);
    else e.check(`${pp}.port.number`, portProblem(number));
    if (isSet(number)) ports.add(number);
    if (!(['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] as const).some((k) => isSet(pls[k]))) {
      e.add(pp, 'must set at least one policy (loadBalancer, connectionPool, outlierDetection, tls) for the port');
    }
    validatePortPolicy(e, pp, pls);
  });
  if (isSet(tp.tunnel)) {
    const t = tp.tunnel;
    if (isSet(t.protocol) && t.protocol !== '' && t.protocol !== 'CONNECT' && t.protocol !== 'POST') {
      e.add(`${p}.tunnel.protocol`, `must be CONNECT or POST, got ${JSON.stringify(t.protocol)}`);
    }
    if (typeof t.targetHost !== 'string' || (!isIPAddress(t.targetHost) && !isDnsName(t.targetHost))) {
      e.add(`${p}.tunnel.targetHost`, `must be an IP address or a host name, got ${JSON.stringify(t.targetHost)}`);
    }
    e.check(`${p}.tunnel.targetPort`, portProblem(t.targetPort));
  }
  if (isSet(tp.retryBudget)) {
    const rb = tp.retryBudget;
    if (isSet(rb.percent)) e.check(`${p}.retryBudget.percent`, percentProblem(rb.percent));
    if (isSet(rb.budgetInterval)) e.check(`${p}.retryBudget.budgetInterval`, durationProblem(rb.budgetInterval, { min: '0' }));
  }
}

/** The policies that may be set for the whole host and per port. */
function validatePortPolicy(e: ErrorList, p: string, tp: PortTrafficPolicyFields): void {
  if (isSet(tp.loadBalancer)) validateLoadBalancer(e, `${p}.loadBalancer`, tp.loadBalancer);
  if (isSet(tp.connectionPool)) validateConnectionPool(e, `${p}.connectionPool`, tp.connectionPool);
  if (isSet(tp.outlierDetection)) validateOutlierDetection(e, `${p}.outlierDetection`, tp.outlierDetection);
  if (isSet(tp.tls)) validateClientTls(e, `${p}.tls`, tp.tls);
}

function validateLoadBalancer(e: ErrorList, p: string, lb: LoadBalancer): void {
  if (isSet(lb.simple) && isSet(lb.consistentHash)) e.add(p, 'only one of simple or consistentHash may be set');
  if (isSet(lb.consistentHash)) validateConsistentHash(e, `${p}.consistentHash`, lb.consistentHash);
  if (isSet(lb.localityLbSetting) && isSet(lb.zoneAwareLbSetting)) {
    e.add(p, 'only one of localityLbSetting or zoneAwareLbSetting may be set');
  }
  if (isSet(lb.localityLbSetting)) validateLocalityLb(e, `${p}.localityLbSetting`, lb.localityLbSetting);
  if (isSet(lb.zoneAwareLbSetting)) validateZoneAwareLb(e, `${p}.zoneAwareLbSetting`, lb.zoneAwareLbSetting);
  if (isSet(lb.warmupDurationSecs)) e.check(`${p}.warmupDurationSecs`, durationProblem(lb.warmupDurationSecs));
  if (isSet(lb.warmup)) {
    e.check(`${p}.warmup.duration`, durationProblem(lb.warmup.duration));
    if (isSet(lb.warmup.minimumPercent)) e.check(`${p}.warmup.minimumPercent`, percentProblem(lb.warmup.minimumPercent));
    if (isSet(lb.warmup.aggression)) e.check(`${p}.warmup.aggression`, nonNegativeProblem(lb.warmup.aggression));
  }
}

function validateConsistentHash(e: ErrorList, p: string, ch: ConsistentHashLB): void {
  const keys = (['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const).filter((k) => isSet(ch[k]));
  if (keys.length > 1) e.add(p, `only one hash key may be set, got ${keys.join(' and ')}`);
  if (isSet(ch.ringHash) && isSet(ch.maglev)) e.add(p, 'only one of ringHash or maglev may be set');
  if (isSet(ch.minimumRingSize) && ch.minimumRingSize !== 0 && (isSet(ch.ringHash) || isSet(ch.maglev))) {
    e.add(`${p}.minimumRingSize`, 'cannot be combined with ringHash or maglev; use ringHash.minimumRingSize instead');
  }
  if (isSet(ch.httpHeaderName)) e.check(`${p}.httpHeaderName`, headerNameProblem(ch.httpHeaderName));
  const cookie = ch.httpCookie;
  if (isSet(cookie)) {
    if (!cookie.name) e.add(`${p}.httpCookie.name`, 'required');
    if (isSet(cookie.ttl)) e.check(`${p}.httpCookie.ttl`, durationProblem(cookie.ttl, { min: '0' }));
    const names = new Set<string>();
    list(cookie.attributes).forEach((attribute, i) => {
      const name = isSet(attribute) ? attribute.name : undefined;
      const ap = `${p}.httpCookie.attributes[${i}].name`;
      if (typeof name !== 'string' || name === '') e.add(ap, 'required');
      else if (names.has(name)) e.add(ap, `duplicate cookie attribute ${JSON.stringify(name)}`);
      else names.add(name);
    });
  }
  if (isSet(ch.maglev)) e.check(`${p}.maglev.tableSize`, maglevTableSizeProblem(ch.maglev.tableSize));
}

/** Envoy builds the Maglev lookup table only with a prime size, below its limit. */
function maglevTableSizeProblem(size: unknown): string | undefined {
  const hint = `a prime number below ${MAGLEV_TABLE_LIMIT}, e.g. 65537`;
  if (!isSet(size) || size === 0) return `required for maglev: ${hint}`;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) return `must be ${hint}, got ${JSON.stringify(size)}`;
  if (size >= MAGLEV_TABLE_LIMIT) return `must be less than ${MAGLEV_TABLE_LIMIT}, got ${size}`;
  if (!isEnvoyPrime(size)) return `must be a prime number, got ${size} (e.g. 65537)`;
  return undefined;
}

/** Envoy's primality test, which counts 1 as prime: the verdict must be the one Envoy gives. */
function isEnvoyPrime(n: number): boolean {
  if (n !== 0 && n < 4) return true;
  if (n % 2 === 0) return false;
  for (let factor = 3; factor * factor <= n; factor += 2) {
    if (n % factor === 0) return false;
  }
  return true;
}

function validateLocalityLb(e: ErrorList, lp: string, loc: LocalityLoadBalancerSetting): void {
  const distribute = list(loc.distribute);
  const failover = list(loc.failover);
  if (distribute.length > 0 && failover.length > 0) {
    e.add(lp, 'only one of distribute or failover may be set');
    return;
  }
  if (failover.length > 0) {
    list(loc.failoverPriority).forEach((label, i) => {
      if (TOPOLOGY_LABELS.includes(label)) {
        e.add(`${lp}.failoverPriority[${i}]`, `cannot use the locality label ${JSON.stringify(label)} together with failover, which already orders the regions`);
      }
    });
  }
  const sources: [string, string][] = [];
  distribute.forEach((d, i) => {
    const dp = `${lp}.distribute[${i}]`;
    if (!d.from) e.add(`${dp}.from`, 'required');
    else sources.push([`${dp}.from`, d.from]);
    let sum = 0;
    let weightsInRange = true;
    const destinations: [string, string][] = [];
    for (const [to, weight] of entries(d.to)) {
      if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > 100) {
        e.add(`${dp}.to[${to}]`, `weight must be between 1 and 100, got ${JSON.stringify(weight)}`);
        weightsInRange = false;
      } else {
        sum += weight;
      }
      destinations.push([`${dp}.to[${to}]`, to]);
    }
    if (weightsInRange && sum !== 100) e.add(`${dp}.to`, `weights must sum to 100, got ${sum}`);
    checkLocalities(e, destinations);
  });
  checkLocalities(e, sources);
  failover.forEach((f, i) => validateRegionFailover(e, `${lp}.failover[${i}]`, f));
}

function validateZoneAwareLb(e: ErrorList, zp: string, za: ZoneAwareLbSetting): void {
  list(za.failover).forEach((f, i) => validateRegionFailover(e, `${zp}.failover[${i}]`, f));
  list(za.failoverPriority).forEach((label, i) => {
    if (TOPOLOGY_LABELS.includes(label)) {
      e.add(`${zp}.failoverPriority[${i}]`, `cannot use the locality label ${JSON.stringify(label)}: zone-aware load balancing already prefers the local zone, and failover orders the regions`);
    }
  });
}

/** Failover moves traffic between whole regions, so both ends name exactly one region. */
function validateRegionFailover(e: ErrorList, fp: string, f: LocalityFailover): void {
  for (const side of ['from', 'to'] as const) {
    const region = f[side];
    if (!region) {
      e.add(`${fp}.${side}`, 'required');
      continue;
    }
    if (region.includes('/')) e.add(`${fp}.${side}`, `must be a region alone, without zone or subzone, got ${JSON.stringify(region)}`);
    if (region.includes('*')) e.add(`${fp}.${side}`, `must name a region: wildcards are not allowed, got ${JSON.stringify(region)}`);
  }
  if (f.from && f.from === f.to) e.add(`${fp}.to`, `must differ from the source region ${JSON.stringify(f.from)}`);
}

/**
 * Localities (`region`, `region/zone`, `region/zone/subzone`, optionally ending in `*`) of one
 * list must not overlap: each locality may be matched by one entry only.
 */
function checkLocalities(e: ErrorList, items: readonly [string, string][]): void {
  // region -> zone -> subzones; '*' stands for a whole level already claimed.
  const claimed = new Map<string, Map<string, Set<string>>>();
  for (const [path, locality] of items) {
    const quoted = JSON.stringify(locality);
    const stars = locality.split('*').length - 1;
    if (stars > 1 || (stars === 1 && !locality.endsWith('*'))) {
      e.add(path, `a wildcard "*" may appear only once, at the end, got ${quoted}`);
      continue;
    }
    const [region, zone, ...rest] = locality.split('/');
    const parts = rest.length > 0 ? [region, zone, rest.join('/')] : zone === undefined ? [region] : [region, zone];
    if (parts.some((part) => part === '')) {
      e.add(path, `must be region, region/zone or region/zone/subzone, with no empty part, got ${quoted}`);
      continue;
    }
    const zones = claimed.get(region);
    const subzones = zones?.get(zone);
    const overlaps =
      claimed.has('*') ||
      (parts.length === 1 && zones !== undefined) ||
      (parts.length === 2 && (zones?.has('*') === true || subzones !== undefined)) ||
      (parts.length === 3 && (zones?.has('*') === true || subzones?.has('*') === true || subzones?.has(parts[2]) === true));
    if (overlaps) {
      e.add(path, `locality ${quoted} overlaps one given before it`);
      continue;
    }
    if (parts.length === 1) claimed.set(region, new Map([['*', new Set(['*'])]]));
    else {
      const zoneMap = zones ?? new Map<string, Set<string>>();
      claimed.set(region, zoneMap);
      if (parts.length === 2) zoneMap.set(zone, new Set(['*']));
      else zoneMap.set(zone, (subzones ?? new Set<string>()).add(parts[2]));
    }
  }
}

export function validateConnectionPool(e: ErrorList, p: string, cp: ConnectionPoolSettings): void {
  if (!isSet(cp.tcp) && !isSet(cp.http)) {
    e.add(p, 'must set tcp or http settings, or be left out');
    return;
  }
  const tcp = cp.tcp;
  if (isSet(tcp)) {
    if (isSet(tcp.maxConnections)) e.check(`${p}.tcp.maxConnections`, nonNegativeProblem(tcp.maxConnections));
    if (isSet(tcp.connectTimeout)) e.check(`${p}.tcp.connectTimeout`, durationProblem(tcp.connectTimeout));
    if (isSet(tcp.maxConnectionDuration)) {
      e.check(`${p}.tcp.maxConnectionDuration`, durationProblem(tcp.maxConnectionDuration));
    }
    if (isSet(tcp.idleTimeout)) e.check(`${p}.tcp.idleTimeout`, durationProblem(tcp.idleTimeout, { min: '0' }));
    for (const field of ['time', 'interval'] as const) {
      const value = tcp.tcpKeepalive?.[field];
      if (isSet(value)) e.check(`${p}.tcp.tcpKeepalive.${field}`, durationProblem(value));
    }
  }
  const http: HttpPool | undefined = cp.http;
  if (isSet(http)) {
    const counts = ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams'] as const;
    for (const field of counts) {
      if (isSet(http[field])) e.check(`${p}.http.${field}`, nonNegativeProblem(http[field]));
    }
    if (isSet(http.idleTimeout)) e.check(`${p}.http.idleTimeout`, durationProblem(http.idleTimeout, { min: '0' }));
    if (http.h2UpgradePolicy === 'UPGRADE' && http.useClientProtocol === true) {
      e.add(`${p}.http`, 'useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE');
    }
    // A keepalive ping needs both how often to send it and how long to wait for the answer.
    const keepalive = http.http2KeepAlive;
    if (isSet(keepalive)) {
      for (const field of ['interval', 'timeout'] as const) {
        const kp = `${p}.http.http2KeepAlive.${field}`;
        if (isSet(keepalive[field])) e.check(kp, durationProblem(keepalive[field]));
        else e.add(kp, 'required when http2KeepAlive is set');
      }
    }
  }
}

function validateOutlierDetection(e: ErrorList, p: string, od: OutlierDetection): void {
  if (isSet(od.consecutiveErrors)) e.check(`${p}.consecutiveErrors`, nonNegativeProblem(od.consecutiveErrors));
  const localOrigin = od.consecutiveLocalOriginFailures;
  if (typeof localOrigin === 'number' && localOrigin > 0 && od.splitExternalLocalOriginErrors !== true) {
    e.add(`${p}.consecutiveLocalOriginFailures`, 'counts only when splitExternalLocalOriginErrors is true: set it, or remove this field');
  }
  if (isSet(od.interval)) e.check(`${p}.interval`, durationProblem(od.interval));
  if (isSet(od.baseEjectionTime)) e.check(`${p}.baseEjectionTime`, durationProblem(od.baseEjectionTime));
  if (isSet(od.maxEjectionPercent)) e.check(`${p}.maxEjectionPercent`, percentProblem(od.maxEjectionPercent));
  if (isSet(od.minHealthPercent)) e.check(`${p}.minHealthPercent`, percentProblem(od.minHealthPercent));
}

function validateClientTls(e: ErrorList, p: string, tls: ClientTLSSettings): void {
  const mode = tls.mode ?? 'DISABLE';
  if (tls.insecureSkipVerify === true && (mode === 'SIMPLE' || mode === 'MUTUAL')) {
    // With MUTUAL, credentialName's secret carries the client certificate, so it may hold no CA at all.
    const verification = mode === 'SIMPLE' ? (['caCertificates', 'credentialName', 'subjectAltNames'] as const) : (['caCertificates', 'subjectAltNames'] as const);
    const set = verification.filter((k) => (k === 'subjectAltNames' ? list(tls.subjectAltNames).length > 0 : Boolean(tls[k])));
    if (set.length > 0) {
      e.add(`${p}.insecureSkipVerify`, `cannot be true with ${set.join(', ')} set: they configure the server verification it turns off`);
    }
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && tls.credentialName) {
    const files = (['clientCertificate', 'privateKey', 'caCertificates', 'caCrl'] as const).filter((k) => tls[k]);
    if (files.length > 0) {
      e.add(p, `credentialName cannot be combined with ${files.join(', ')}; the secret holds the certificates`);
    }
    return;
  }
  if (mode === 'MUTUAL' && (!tls.clientCertificate || !tls.privateKey)) {
    e.add(p, 'mode MUTUAL requires clientCertificate and privateKey, or credentialName');
  }
}
