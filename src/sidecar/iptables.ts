// The traffic capture rules of a sidecar's init container, as iptables-restore input for the
// nat table (pure). Istio's layout: inbound TCP is redirected to the proxy's inbound port,
// outbound TCP to its outbound port; the proxy's own traffic (UID/GID) is exempt so it can
// reach the real destination; loopback is left alone except the proxy talking to itself for
// a pod-local service; DNS is not captured.

export interface CaptureOptions {
  proxyUid: number;
  proxyGid: number;
  inboundCapturePort: number; // 15006
  outboundCapturePort: number; // 15001
  /** "*" for every port, or a list; the proxy's ports are always excluded. */
  includeInboundPorts: '*' | number[];
  excludeInboundPorts: number[];
  /** "*" for everything, or CIDRs; an empty list captures no outbound traffic. */
  includeOutboundCidrs: '*' | string[];
  excludeOutboundCidrs: string[];
  includeOutboundPorts: number[];
  excludeOutboundPorts: number[];
}

/** Ports of the proxy itself that must never be captured inbound. */
export const PROXY_PORTS = [15001, 15006, 15008, 15020, 15021, 15090];

export const DEFAULT_CAPTURE: CaptureOptions = {
  proxyUid: 1337,
  proxyGid: 1337,
  inboundCapturePort: 15006,
  outboundCapturePort: 15001,
  includeInboundPorts: '*',
  excludeInboundPorts: [],
  includeOutboundCidrs: '*',
  excludeOutboundCidrs: [],
  includeOutboundPorts: [],
  excludeOutboundPorts: [],
};

const IN = 'TRELLIS_INBOUND';
const IN_REDIRECT = 'TRELLIS_IN_REDIRECT';
const OUT = 'TRELLIS_OUTPUT';
const OUT_REDIRECT = 'TRELLIS_REDIRECT';

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

/** The nat-table rules, in iptables-restore format (use with --noflush). */
export function captureRules(o: CaptureOptions): string {
  const r: string[] = ['*nat', `:${IN} - [0:0]`, `:${IN_REDIRECT} - [0:0]`, `:${OUT} - [0:0]`, `:${OUT_REDIRECT} - [0:0]`];
  r.push(`-A ${IN_REDIRECT} -p tcp -j REDIRECT --to-ports ${o.inboundCapturePort}`);
  r.push(`-A ${OUT_REDIRECT} -p tcp -j REDIRECT --to-ports ${o.outboundCapturePort}`);

  // Inbound.
  const inboundExcluded = unique([...PROXY_PORTS, ...o.excludeInboundPorts]);
  if (o.includeInboundPorts === '*') {
    r.push(`-A PREROUTING -p tcp -j ${IN}`);
    for (const p of inboundExcluded) r.push(`-A ${IN} -p tcp --dport ${p} -j RETURN`);
    r.push(`-A ${IN} -p tcp -j ${IN_REDIRECT}`);
  } else if (o.includeInboundPorts.length > 0) {
    r.push(`-A PREROUTING -p tcp -j ${IN}`);
    for (const p of o.includeInboundPorts.filter((x) => !inboundExcluded.includes(x))) r.push(`-A ${IN} -p tcp --dport ${p} -j ${IN_REDIRECT}`);
  }

  // Outbound.
  r.push(`-A OUTPUT -p tcp -j ${OUT}`);
  // Traffic the proxy sends from 127.0.0.6 to the app (inbound passthrough) is not captured.
  r.push(`-A ${OUT} -s 127.0.0.6/32 -o lo -j RETURN`);
  for (const [match, id] of [
    ['--uid-owner', o.proxyUid],
    ['--gid-owner', o.proxyGid],
  ] as const) {
    // The proxy calling its own pod's service IP over loopback goes back through inbound.
    r.push(`-A ${OUT} ! -d 127.0.0.1/32 -o lo -p tcp -m owner ${match} ${id} -j ${IN_REDIRECT}`);
    // Other loopback traffic of the app is left alone.
    r.push(`-A ${OUT} -o lo -m owner ! ${match} ${id} -j RETURN`);
    // The proxy's own outbound connections go where they were sent.
    r.push(`-A ${OUT} -m owner ${match} ${id} -j RETURN`);
  }
  r.push(`-A ${OUT} -d 127.0.0.1/32 -j RETURN`);
  // DNS is not captured (UDP never is; TCP 53 neither).
  r.push(`-A ${OUT} -p tcp --dport 53 -j RETURN`);
  for (const p of unique(o.excludeOutboundPorts)) r.push(`-A ${OUT} -p tcp --dport ${p} -j RETURN`);
  for (const c of unique(o.excludeOutboundCidrs)) r.push(`-A ${OUT} -d ${c} -j RETURN`);
  for (const p of unique(o.includeOutboundPorts)) r.push(`-A ${OUT} -p tcp --dport ${p} -j ${OUT_REDIRECT}`);
  if (o.includeOutboundCidrs === '*') r.push(`-A ${OUT} -j ${OUT_REDIRECT}`);
  else for (const c of unique(o.includeOutboundCidrs)) r.push(`-A ${OUT} -d ${c} -j ${OUT_REDIRECT}`);
  r.push('COMMIT');
  return r.join('\n') + '\n';
}

// --- parsing of the annotation/flag values --------------------------------------------------

export class CaptureOptionError extends Error {}

/** "8080, 9090" → [8080, 9090]; "*" → "*" when allowed; "" → []. */
export function parsePorts(what: string, value: string, allowStar: boolean): number[] | '*' {
  const v = value.trim();
  if (v === '*' && allowStar) return '*';
  if (v === '') return [];
  return v.split(',').map((s) => {
    const t = s.trim();
    const n = Number(t);
    if (!/^\d+$/.test(t) || n < 1 || n > 65535) throw new CaptureOptionError(`${what}: "${t}" is not a port (1-65535)`);
    return n;
  });
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/;

/** "10.0.0.0/8,192.168.1.1" → CIDRs (a bare address becomes /32); "*" when allowed. */
export function parseCidrs(what: string, value: string, allowStar: boolean): string[] | '*' {
  const v = value.trim();
  if (v === '*' && allowStar) return '*';
  if (v === '') return [];
  return v.split(',').map((s) => {
    const t = s.trim();
    const m = IPV4_CIDR.exec(t);
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || (m[5] !== undefined && Number(m[5]) > 32)) {
      throw new CaptureOptionError(`${what}: "${t}" is not an IPv4 address or CIDR`);
    }
    return m[5] === undefined ? `${t}/32` : t;
  });
}
