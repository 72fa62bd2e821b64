// Who is on the other end of a stream: parsed once from the first request's Node (its id in
// Istio's form `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>`, and its metadata).
import type { Node__Output } from './generated/envoy/config/core/v3/Node.js';
import type { Struct__Output } from './generated/google/protobuf/Struct.js';
import type { Value__Output } from './generated/google/protobuf/Value.js';

export type ProxyKind = 'sidecar' | 'router' | 'proxyless' | 'unknown';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface ProxyInfo {
  /** node.id, as the proxy sent it: the registry key. */
  readonly id: string;
  readonly kind: ProxyKind;
  /** The first IP (from the node id, else metadata INSTANCE_IPS). */
  readonly ip: string | undefined;
  readonly ips: readonly string[];
  readonly podName: string | undefined;
  readonly namespace: string | undefined;
  /** The DNS domain of the node id's last part, e.g. `default.svc.cluster.local`. */
  readonly dnsDomain: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** node.metadata as JSON (Istio's ISTIO_VERSION, LABELS, NAMESPACE, GENERATOR, ...). */
  readonly metadata: Readonly<Record<string, JsonValue>>;
  readonly cluster: string;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string } | undefined;
  /** e.g. `envoy/1.36.4` or `gRPC Node Pure JS/1.14.1`. */
  readonly userAgent: string;
  /** Metadata GENERATOR (Istio uses `grpc` for proxyless gRPC clients). */
  readonly generator: string | undefined;
  readonly clientFeatures: readonly string[];
  /** Metadata INTERCEPTION_MODE NONE: the pod's traffic is not captured by iptables. */
  readonly interception?: 'NONE';
  /**
   * The workload identity the stream proved (see access.ts); undefined on an unauthenticated
   * port. Only a proxy with an identity is sent Secrets, and only its own namespace's.
   */
  readonly identity?: { readonly namespace: string; readonly serviceAccount: string };
}

export function valueToJson(v: Value__Output | null | undefined): JsonValue {
  if (!v) return null;
  switch (v.kind) {
    case 'numberValue':
      return v.numberValue ?? 0;
    case 'stringValue':
      return v.stringValue ?? '';
    case 'boolValue':
      return v.boolValue ?? false;
    case 'structValue':
      return structToJson(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}

export function structToJson(s: Struct__Output | null | undefined): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function stringMap(v: JsonValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  }
  return out;
}

/** Parses a Node (from the first request of a stream). Never throws: unknown shapes give 'unknown'. */
export function parseNode(node: Node__Output | null | undefined): ProxyInfo {
  const id = node?.id ?? '';
  const metadata = structToJson(node?.metadata);
  const parts = id.split('~');
  const istioId = parts.length === 4;
  const type = istioId ? parts[0] : undefined;
  const metaIps = (str(metadata.INSTANCE_IPS) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const idIp = istioId && parts[1] ? parts[1] : undefined;
  const ips = idIp ? [idIp, ...metaIps.filter((x) => x !== idIp)] : metaIps;
  let podName = str(metadata.NAME);
  let namespace = str(metadata.NAMESPACE);
  if (istioId) {
    const dot = parts[2].lastIndexOf('.');
    podName ??= dot > 0 ? parts[2].slice(0, dot) : parts[2] || undefined;
    namespace ??= dot > 0 ? parts[2].slice(dot + 1) : undefined;
  }
  const generator = str(metadata.GENERATOR);
  const userAgentName = node?.user_agent_name ?? '';
  const userAgentVersion =
    node?.user_agent_version ?? (node?.user_agent_build_version?.version ? Object.values(node.user_agent_build_version.version).join('.') : '');
  let kind: ProxyKind = 'unknown';
  if (generator === 'grpc' || userAgentName.startsWith('gRPC')) kind = 'proxyless';
  else if (type === 'sidecar') kind = 'sidecar';
  else if (type === 'router') kind = 'router';
  const loc = node?.locality;
  return {
    id,
    kind,
    ip: ips[0],
    ips,
    podName,
    namespace,
    dnsDomain: istioId && parts[3] ? parts[3] : undefined,
    labels: stringMap(metadata.LABELS),
    metadata,
    cluster: node?.cluster ?? '',
    locality: loc && (loc.region || loc.zone || loc.sub_zone) ? { region: loc.region, zone: loc.zone, subZone: loc.sub_zone } : undefined,
    userAgent: userAgentVersion ? `${userAgentName}/${userAgentVersion}` : userAgentName,
    generator,
    clientFeatures: node?.client_features ?? [],
    ...(str(metadata.INTERCEPTION_MODE) === 'NONE' ? { interception: 'NONE' as const } : {}),
  };
}
