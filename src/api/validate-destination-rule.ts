// DestinationRule validation with Istio's rules.
import type {
  ClientTLSSettings,
  ConnectionPoolSettings,
  DestinationRuleSpec,
  LoadBalancerSettings,
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

export function validateDestinationRule(spec: DestinationRuleSpec): ValidationError[] {
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
    if (entries(spec.workloadSelector.matchLabels).length === 0) {
      e.add('spec.workloadSelector.matchLabels', 'at least one label is required');
    }
    validateLabels(e, 'spec.workloadSelector.matchLabels', spec.workloadSelector.matchLabels);
  }
  return e.errors;
}

function validateTrafficPolicy(e: ErrorList, p: string, tp: TrafficPolicy): void {
  validatePortPolicy(e, p, tp);
  const ports = new Set<number>();
  list(tp.portLevelSettings).forEach((pls, i) => {
    const pp = `${p}.portLevelSettings[${i}]`;
    const number = pls.port?.number;
    if (!isSet(pls.port)) e.add(`${pp}.port`, 'required');
    else if (isSet(number) && ports.has(number)) e.add(`${pp}.port.number`, `duplicate port ${number}`);
    else e.check(`${pp}.port.number`, portProblem(number));
    if (isSet(number)) ports.add(number);
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

function validateLoadBalancer(e: ErrorList, p: string, lb: LoadBalancerSettings): void {
  if (isSet(lb.simple) && isSet(lb.consistentHash)) e.add(p, 'only one of simple or consistentHash may be set');
  const ch = lb.consistentHash;
  if (isSet(ch)) {
    const keys = (['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'] as const).filter((k) => isSet(ch[k]));
    if (keys.length > 1) e.add(`${p}.consistentHash`, `only one hash key may be set, got ${keys.join(' and ')}`);
    if (isSet(ch.ringHash) && isSet(ch.maglev)) e.add(`${p}.consistentHash`, 'only one of ringHash or maglev may be set');
    if (isSet(ch.httpHeaderName)) e.check(`${p}.consistentHash.httpHeaderName`, headerNameProblem(ch.httpHeaderName));
    if (isSet(ch.httpCookie)) {
      if (!ch.httpCookie.name) e.add(`${p}.consistentHash.httpCookie.name`, 'required');
      if (isSet(ch.httpCookie.ttl)) {
        e.check(`${p}.consistentHash.httpCookie.ttl`, durationProblem(ch.httpCookie.ttl, { min: '0' }));
      }
    }
  }
  const loc = lb.localityLbSetting;
  if (isSet(loc)) {
    const lp = `${p}.localityLbSetting`;
    const distribute = list(loc.distribute);
    const failover = list(loc.failover);
    if (distribute.length > 0 && failover.length > 0) e.add(lp, 'only one of distribute or failover may be set');
    distribute.forEach((d, i) => {
      if (!d.from) e.add(`${lp}.distribute[${i}].from`, 'required');
      const sum = entries(d.to).reduce((total, [, weight]) => total + (typeof weight === 'number' ? weight : 0), 0);
      if (sum !== 100) e.add(`${lp}.distribute[${i}].to`, `weights must sum to 100, got ${sum}`);
    });
    failover.forEach((f, i) => {
      if (!f.from) e.add(`${lp}.failover[${i}].from`, 'required');
      if (!f.to) e.add(`${lp}.failover[${i}].to`, 'required');
      else if (f.from === f.to) {
        e.add(`${lp}.failover[${i}].to`, `must differ from the source region ${JSON.stringify(f.from)}`);
      }
    });
  }
  if (isSet(lb.warmupDurationSecs)) e.check(`${p}.warmupDurationSecs`, durationProblem(lb.warmupDurationSecs));
  if (isSet(lb.warmup)) {
    e.check(`${p}.warmup.duration`, durationProblem(lb.warmup.duration));
    if (isSet(lb.warmup.minimumPercent)) e.check(`${p}.warmup.minimumPercent`, percentProblem(lb.warmup.minimumPercent));
    if (isSet(lb.warmup.aggression)) e.check(`${p}.warmup.aggression`, nonNegativeProblem(lb.warmup.aggression));
  }
}

function validateConnectionPool(e: ErrorList, p: string, cp: ConnectionPoolSettings): void {
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
  const http = cp.http;
  if (isSet(http)) {
    const counts = ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams'] as const;
    for (const field of counts) {
      if (isSet(http[field])) e.check(`${p}.http.${field}`, nonNegativeProblem(http[field]));
    }
    if (isSet(http.idleTimeout)) e.check(`${p}.http.idleTimeout`, durationProblem(http.idleTimeout, { min: '0' }));
    if (http.h2UpgradePolicy === 'UPGRADE' && http.useClientProtocol === true) {
      e.add(`${p}.http`, 'useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE');
    }
  }
}

function validateOutlierDetection(e: ErrorList, p: string, od: OutlierDetection): void {
  if (isSet(od.consecutiveErrors)) e.check(`${p}.consecutiveErrors`, nonNegativeProblem(od.consecutiveErrors));
  if (isSet(od.interval)) e.check(`${p}.interval`, durationProblem(od.interval));
  if (isSet(od.baseEjectionTime)) e.check(`${p}.baseEjectionTime`, durationProblem(od.baseEjectionTime));
  if (isSet(od.maxEjectionPercent)) e.check(`${p}.maxEjectionPercent`, percentProblem(od.maxEjectionPercent));
  if (isSet(od.minHealthPercent)) e.check(`${p}.minHealthPercent`, percentProblem(od.minHealthPercent));
}

function validateClientTls(e: ErrorList, p: string, tls: ClientTLSSettings): void {
  const mode = tls.mode ?? 'DISABLE';
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
