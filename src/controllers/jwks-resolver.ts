// The control plane's copy of the signing keys RequestAuthentications name by URL (Istio's
// JwksResolver): each jwksUri (or an issuer's OpenID discovery document, then the jwks_uri it
// names) is fetched over http or https within the rule's timeout, kept, and fetched again every
// 20 minutes; a failed fetch is retried after a minute, then at doubling intervals up to an
// hour. A failing refresh keeps the last good keys (for up to 7 days, as Istio), a response that
// is not a key set Envoy can load counts as a failure, and nothing here ever throws at its caller. When the
// keys of a source change (or only what its status should say), `onChange` tells the composition
// root, which rebuilds the mesh and pushes listeners.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { Counter } from 'prom-client';
import type { Logger } from 'winston';
import { describeJwksSource, JWKS_PENDING, jwksSourceKey, type JwksSource, type JwksState, type WantedJwks } from '../model/jwks.js';
import { envoyJwksProblem } from '../model/jwks-keys.js';
import { loggerFor } from '../util/logger.js';
import { registry } from '../util/metrics.js';

const jwksFetches = new Counter({ name: 'trellis_jwks_fetches_total', help: 'Fetches of the JWKS RequestAuthentications name by URL, by result (success, failure).', labelNames: ['result'] as const, registers: [registry] });

export interface JwksResolverOptions {
  /** `keys`: the keys proxies get changed; otherwise only what a status says. */
  onChange: (change: { keys: boolean }) => void;
  log?: Logger;
  /** Between two successful fetches; Istio's 20 minutes. */
  refreshMs?: number;
  /** After a first failure (then doubling); Istio's 1 minute. */
  retryMs?: number;
  /** The longest wait between retries; Istio's 1 hour. */
  maxRetryMs?: number;
  /** Keys not refreshed for this long are dropped; Istio's 7 days. */
  maxStaleMs?: number;
  /** The largest response accepted (a key set is a few KB). */
  maxBytes?: number;
  /**
   * More CA certificates (PEM) to trust for https, besides the system's (Istio's extra bundle;
   * NODE_EXTRA_CA_CERTS does the same for the whole process).
   */
  extraCa?: string;
}

const MINUTE = 60_000;
const OPENID_DISCOVERY_SUFFIX = '/.well-known/openid-configuration';

interface Entry {
  readonly source: JwksSource;
  timeoutMs: number;
  state: JwksState;
  failures: number;
  lastSuccess: number | undefined;
  timer: NodeJS.Timeout | undefined;
  inflight: Promise<void> | undefined;
}

export class JwksResolver {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly refreshMs: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly maxStaleMs: number;
  private readonly maxBytes: number;
  private readonly ca: string[] | undefined;
  private closed = false;

  constructor(private readonly opts: JwksResolverOptions) {
    this.log = opts.log ?? loggerFor('jwks');
    this.refreshMs = opts.refreshMs ?? 20 * MINUTE;
    this.retryMs = opts.retryMs ?? MINUTE;
    this.maxRetryMs = opts.maxRetryMs ?? 60 * MINUTE;
    this.maxStaleMs = opts.maxStaleMs ?? 7 * 24 * 60 * MINUTE;
    this.maxBytes = opts.maxBytes ?? 1024 * 1024;
    this.ca = opts.extraCa ? [...tls.rootCertificates, opts.extraCa] : undefined;
  }

  /** What is held for a source now (never waits). */
  state(source: JwksSource): JwksState {
    return this.entries.get(jwksSourceKey(source))?.state ?? JWKS_PENDING;
  }

  /** Keeps exactly these sources: new ones are fetched now, ones no policy uses any more are dropped. */
  sync(wanted: ReadonlyMap<string, WantedJwks>): void {
    if (this.closed) return;
    for (const [key, entry] of this.entries) {
      if (wanted.has(key)) continue;
      clearTimeout(entry.timer);
      this.entries.delete(key);
    }
    for (const [key, w] of wanted) {
      const entry = this.entries.get(key);
      if (entry) {
        entry.timeoutMs = w.timeoutMs;
        continue;
      }
      const fresh: Entry = { source: w.source, timeoutMs: w.timeoutMs, state: JWKS_PENDING, failures: 0, lastSuccess: undefined, timer: undefined, inflight: undefined };
      this.entries.set(key, fresh);
      void this.fetch(key, fresh);
    }
  }

  /** Fetches every source now (or waits for a fetch under way); resolves when all are done. */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.entries].map(([key, entry]) => this.fetch(key, entry)));
  }

  /** Resolves once no fetch is under way. */
  async idle(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.inflight));
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
  }

  private fetch(key: string, entry: Entry): Promise<void> {
    entry.inflight ??= this.fetchOnce(key, entry).finally(() => (entry.inflight = undefined));
    return entry.inflight;
  }

  private async fetchOnce(key: string, entry: Entry): Promise<void> {
    clearTimeout(entry.timer);
    let jwks: string | undefined;
    let error: string | undefined;
    try {
      jwks = await this.download(entry.source, entry.timeoutMs);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    // Dropped (or replaced) while the fetch was under way: its answer concerns no one.
    if (this.closed || this.entries.get(key) !== entry) return;
    const before = entry.state;
    if (jwks !== undefined) {
      jwksFetches.inc({ result: 'success' });
      entry.failures = 0;
      entry.lastSuccess = Date.now();
      entry.state = { status: 'ok', jwks, fetchedAt: new Date(entry.lastSuccess).toISOString() };
      this.schedule(key, entry, this.refreshMs);
    } else {
      jwksFetches.inc({ result: 'failure' });
      entry.failures++;
      const stale = entry.lastSuccess === undefined || Date.now() - entry.lastSuccess >= this.maxStaleMs;
      entry.state = before.status === 'ok' && !stale ? { ...before, refreshError: error! } : { status: 'failed', error: error! };
      this.log.warn('cannot fetch JWKS', { source: describeJwksSource(entry.source), error, keptKeys: entry.state.status === 'ok', failures: entry.failures });
      this.schedule(key, entry, Math.min(this.retryMs * 2 ** (entry.failures - 1), this.maxRetryMs));
    }
    const keys = keysOf(before) !== keysOf(entry.state);
    if (keys || JSON.stringify(statusOf(before)) !== JSON.stringify(statusOf(entry.state))) {
      if (keys) this.log.info('JWKS changed', { source: describeJwksSource(entry.source), status: entry.state.status });
      this.opts.onChange({ keys });
    }
  }

  private schedule(key: string, entry: Entry, ms: number): void {
    entry.timer = setTimeout(() => void this.fetch(key, entry), ms);
    entry.timer.unref();
  }

  /** The key set of a source, compact JSON; throws with a reason a person can act on. */
  private async download(source: JwksSource, timeoutMs: number): Promise<string> {
    const uri = source.uri ?? (await this.discover(source.issuer, timeoutMs));
    const body = await getText(uri, timeoutMs, this.maxBytes, this.ca);
    // Statuses quote errors to whoever may read the policy: never echo what a server answered.
    const parsed = parseJson(body, `GET ${uri}: the response is not JSON`);
    const compact = JSON.stringify(parsed);
    // Keys Envoy cannot load would make it refuse the listener: keep the last good ones instead.
    const problem = envoyJwksProblem(compact);
    if (problem) throw new Error(`GET ${uri}: the response is not a key set Envoy can use: ${problem}`);
    // Compact, so whitespace alone never counts as a change of keys.
    return compact;
  }

  /** OpenID discovery: the jwks_uri of the issuer's configuration document. */
  private async discover(issuer: string, timeoutMs: number): Promise<string> {
    const discovery = issuer + OPENID_DISCOVERY_SUFFIX;
    const doc = parseJson(await getText(discovery, timeoutMs, this.maxBytes, this.ca), `GET ${discovery}: the OpenID discovery document is not JSON`);
    const uri = (doc as { jwks_uri?: unknown } | null)?.jwks_uri;
    if (typeof uri !== 'string' || uri === '') throw new Error(`GET ${discovery}: the OpenID discovery document has no jwks_uri`);
    return uri;
  }
}

const keysOf = (s: JwksState): string | undefined => (s.status === 'ok' ? s.jwks : undefined);
const statusOf = (s: JwksState): unknown => (s.status === 'ok' ? [s.status, s.refreshError] : s.status === 'failed' ? [s.status, s.error] : [s.status]);

function parseJson(text: string, error: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(error, { cause: err });
  }
}

/** Go's http.Client (which Istio fetches with) follows at most 10 redirects. */
const MAX_REDIRECTS = 10;

/**
 * GET over http or https (following redirects): the body of a 2xx answer, within the timeout
 * (for the whole exchange) and the size limit. node:http rather than fetch, which refuses the
 * ports browsers block; Go's client, which Istio uses, refuses none.
 */
async function getText(uri: string, timeoutMs: number, maxBytes: number, ca: string[] | undefined): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  let url = parseHttpUrl(uri);
  for (let redirects = 0; ; redirects++) {
    let answer: Answer;
    try {
      answer = await getOnce(url, signal, maxBytes, ca);
    } catch (err) {
      if (signal.aborted) throw new Error(`GET ${uri}: no answer within ${timeoutMs} ms`, { cause: err });
      throw new Error(`GET ${uri}: ${errorText(err)}`, { cause: err });
    }
    if (answer.kind === 'body') return answer.body;
    if (answer.kind === 'too-large') throw new Error(`GET ${uri}: the response is larger than ${maxBytes} bytes`);
    if (answer.kind === 'status') throw new Error(`GET ${uri}: status ${answer.status}`);
    if (redirects >= MAX_REDIRECTS) throw new Error(`GET ${uri}: stopped after ${MAX_REDIRECTS} redirects`);
    url = parseHttpUrl(new URL(answer.location, url).toString());
  }
}

function parseHttpUrl(uri: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    throw new Error(`${JSON.stringify(uri)} is not a URL`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${JSON.stringify(uri)} is not an http or https URL`);
  return url;
}

type Answer = { kind: 'body'; body: string } | { kind: 'status'; status: number } | { kind: 'redirect'; location: string } | { kind: 'too-large' };

function getOnce(url: URL, signal: AbortSignal, maxBytes: number, ca: string[] | undefined): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const options = { signal, headers: { accept: 'application/json' } };
    const onResponse = (res: http.IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      const done = (answer: Answer): void => {
        res.destroy();
        resolve(answer);
      };
      if (status >= 300 && status < 400 && res.headers.location) return done({ kind: 'redirect', location: res.headers.location });
      if (status < 200 || status > 299) return done({ kind: 'status', status });
      if (Number(res.headers['content-length'] ?? NaN) > maxBytes) return done({ kind: 'too-large' });
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) done({ kind: 'too-large' });
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ kind: 'body', body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    // Certificates are always verified (the system's CAs, plus extraCa).
    const req = url.protocol === 'https:' ? https.get(url, { ...options, ...(ca ? { ca } : {}) }, onResponse) : http.get(url, options, onResponse);
    req.on('error', reject);
  });
}

type ErrorLike = { message?: unknown; code?: unknown };

/** A socket or TLS error's message, with its code (ECONNREFUSED, CERT_HAS_EXPIRED) when the message lacks it. */
function errorText(err: unknown): string {
  const e = typeof err === 'object' && err !== null ? (err as ErrorLike) : undefined;
  if (!e || typeof e.message !== 'string') return String(err);
  const code = typeof e.code === 'string' && !e.message.includes(e.code) ? ` (${e.code})` : '';
  return `${e.message}${code}`;
}
