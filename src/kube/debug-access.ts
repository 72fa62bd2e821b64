// Who may read the control plane's debug pages (/debug/* on 15014: every namespace's
// configuration and every proxy): a caller on loopback (the pod itself, or `kubectl
// port-forward`, which arrives on loopback), or one whose bearer token the API server
// authenticates (TokenReview) and authorises to `get services/proxy` on the control plane's
// Service (SubjectAccessReview): exactly who could reach these pages through the API server's
// service proxy anyway. Decisions are cached briefly, keyed by a hash of the token.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { ExpiringCache } from '../util/expiring-cache.js';
import type { Rest } from './rest.js';

export interface DebugDecision {
  allowed: boolean;
  /** Who asked and why they were allowed or refused (for the log and the 401/403 body). */
  reason: string;
}

interface TokenReview {
  status?: { authenticated?: boolean; error?: string; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> } };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

const CACHE_MS = 10_000;
const CACHE_MAX = 1000;

function isLoopback(address: string | undefined): boolean {
  return !!address && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

/** Whether a Host header names an IP address or localhost (with or without a port). */
export function addressedByIp(host: string | undefined): boolean {
  if (host === undefined) return true; // HTTP/1.0 without Host: no name to rebind
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || isIP(name) !== 0;
}

/** The resource a caller must be allowed to `get`: the control plane Service's proxy subresource. */
export function debugResource(namespace: string, service: string): string {
  return `get services/proxy "${service}" in namespace ${namespace}`;
}

export function debugAccess(rest: Pick<Rest, 'post'>, opts: { namespace: string; service: string }): (req: IncomingMessage) => Promise<DebugDecision> {
  const cache = new ExpiringCache<DebugDecision>(CACHE_MAX);
  const resource = debugResource(opts.namespace, opts.service);
  const review = async (token: string): Promise<DebugDecision> => {
    const tr = await rest.post<TokenReview>('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    const user = tr.status?.user;
    if (!tr.status?.authenticated || !user?.username) return { allowed: false, reason: `the token is not valid${tr.status?.error ? `: ${tr.status.error}` : ''}` };
    const sar = await rest.post<SubjectAccessReview>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        uid: user.uid,
        groups: user.groups,
        extra: user.extra,
        resourceAttributes: { namespace: opts.namespace, verb: 'get', group: '', resource: 'services', subresource: 'proxy', name: opts.service },
      },
    });
    return sar.status?.allowed
      ? { allowed: true, reason: `${user.username} may ${resource}` }
      : { allowed: false, reason: `${user.username} may not ${resource}${sar.status?.reason ? ` (${sar.status.reason})` : ''}` };
  };
  return async (req) => {
    if (isLoopback(req.socket.remoteAddress)) {
      // A web page the user's browser opened elsewhere could reach a port-forward on loopback
      // through a DNS name it controls (DNS rebinding): loopback callers must name an address.
      if (!addressedByIp(req.headers.host)) return { allowed: false, reason: `a loopback caller must address the control plane by IP or localhost, not "${req.headers.host ?? ''}"` };
      return { allowed: true, reason: 'loopback' };
    }
    const header = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) return { allowed: false, reason: `debug pages need a bearer token of a user who may ${resource}` };
    const key = createHash('sha256').update(token).digest('hex');
    const hit = cache.get(key);
    if (hit) return hit;
    const decision = await review(token);
    cache.set(key, decision, Date.now() + CACHE_MS);
    return decision;
  };
}
