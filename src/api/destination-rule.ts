// DestinationRule spec (networking.istio.io/v1): policies for traffic to a service after routing.
import type { Labels, PortSelector, WorkloadSelector } from './common.js';

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
  workloadSelector?: WorkloadSelector;
}

export interface Subset {
  name: string;
  labels?: Labels;
  trafficPolicy?: TrafficPolicy;
}

/** The policies that can also be set per port. */
export interface PortTrafficPolicyFields {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

export interface TrafficPolicy extends PortTrafficPolicyFields {
  portLevelSettings?: PortTrafficPolicy[];
  tunnel?: TunnelSettings;
  proxyProtocol?: ProxyProtocol;
  retryBudget?: RetryBudget;
}

export interface PortTrafficPolicy extends PortTrafficPolicyFields {
  port?: PortSelector;
}

export type SimpleLB = 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';

export interface LoadBalancerSettings {
  simple?: SimpleLB;
  consistentHash?: ConsistentHashLB;
  localityLbSetting?: LocalityLoadBalancerSetting;
  /** Deprecated: use warmup. */
  warmupDurationSecs?: string;
  warmup?: WarmupConfiguration;
}

export interface ConsistentHashLB {
  httpHeaderName?: string;
  httpCookie?: HTTPCookie;
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
  ringHash?: { minimumRingSize?: number };
  maglev?: { tableSize?: number };
  /** Deprecated: use ringHash.minimumRingSize. */
  minimumRingSize?: number;
}

export interface HTTPCookie {
  name: string;
  path?: string;
  ttl?: string;
  attributes?: { name: string; value?: string }[];
}

export interface LocalityLoadBalancerSetting {
  distribute?: { from?: string; to?: Record<string, number> }[];
  failover?: { from?: string; to?: string }[];
  failoverPriority?: string[];
  enabled?: boolean | null;
}

export interface WarmupConfiguration {
  duration: string;
  minimumPercent?: number | null;
  aggression?: number | null;
}

export interface ConnectionPoolSettings {
  tcp?: TCPSettings;
  http?: HTTPSettings;
}

export interface TCPSettings {
  maxConnections?: number;
  connectTimeout?: string;
  tcpKeepalive?: { probes?: number; time?: string; interval?: string };
  maxConnectionDuration?: string;
  idleTimeout?: string;
}

export type H2UpgradePolicy = 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';

export interface HTTPSettings {
  http1MaxPendingRequests?: number;
  http2MaxRequests?: number;
  maxRequestsPerConnection?: number;
  maxRetries?: number;
  idleTimeout?: string;
  h2UpgradePolicy?: H2UpgradePolicy;
  useClientProtocol?: boolean;
  maxConcurrentStreams?: number;
}

export interface OutlierDetection {
  splitExternalLocalOriginErrors?: boolean;
  consecutiveLocalOriginFailures?: number | null;
  consecutiveGatewayErrors?: number | null;
  consecutive5xxErrors?: number | null;
  /** Deprecated: use consecutive5xxErrors. */
  consecutiveErrors?: number;
  interval?: string;
  baseEjectionTime?: string;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

export type ClientTLSMode = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';

export interface ClientTLSSettings {
  mode?: ClientTLSMode;
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean | null;
  caCrl?: string;
}

export interface TunnelSettings {
  protocol?: string;
  targetHost: string;
  targetPort: number;
}

export interface ProxyProtocol {
  version?: 'V1' | 'V2';
}

export interface RetryBudget {
  percent?: number | null;
  minRetryConcurrency?: number;
  budgetInterval?: string;
}
