// A Kubernetes watch: GET <path>?watch=true streams one JSON event per line ({type, object})
// until the server ends it (timeoutSeconds) or the connection fails. Node's https and a line
// splitter are all it needs; the informer (informer.ts) decides what an ending means.
import http from 'node:http';
import https from 'node:https';
import { apiUrl, type KubeAccess } from './access.js';

export type WatchEventHandler = (type: string, object: unknown) => void;
/** null: the server ended the stream; an Error otherwise (`statusCode` set when it answered non-200; name AbortError after abort()). */
export type WatchDone = (err: (Error & { statusCode?: number }) | null) => void;

/** Idle watches are cut by middleboxes; TCP keepalive probes keep them (and notice dead peers). */
const KEEPALIVE_MS = 30_000;
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Starts a watch of `path` (a collection URL path) with `params`. `onEvent` gets each event in
 * order; `onDone` is called once, when the stream ends for any reason. Resolves once the request
 * is sent, with the handle that stops it.
 */
export async function watch(access: KubeAccess, path: string, params: Record<string, string | number | boolean | undefined>, onEvent: WatchEventHandler, onDone: WatchDone): Promise<{ abort(): void }> {
  const cluster = access.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = apiUrl(cluster.server, path);
  url.searchParams.set('watch', 'true');
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, String(v));
  const opts: https.RequestOptions = { method: 'GET', headers: { accept: 'application/json' }, agent: false };
  await access.applyToHTTPSOptions(opts);

  let finished = false;
  const finish = (err: (Error & { statusCode?: number }) | null): void => {
    if (finished) return;
    finished = true;
    onDone(err);
  };
  const transport = url.protocol === 'http:' ? http : https;
  const req = transport.request(url, opts, (res) => {
    res.on('error', (err) => finish(res.statusCode === 200 ? err : Object.assign(err, { statusCode: res.statusCode })));
    res.on('close', () => {
      // After 'end' this changes nothing; before it, the connection was cut.
      const cut = new Error(`watch ${path}: the connection closed before the ${res.statusCode === 200 ? 'stream' : 'answer'} ended`);
      finish(res.statusCode === 200 ? cut : Object.assign(cut, { statusCode: res.statusCode }));
    });
    if (res.statusCode !== 200) {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < MAX_ERROR_BODY) body += d;
      });
      res.on('end', () => {
        let message = body.trim() || http.STATUS_CODES[res.statusCode ?? 0] || 'error';
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? message;
        } catch {
          /* not a Status object */
        }
        finish(Object.assign(new Error(`watch ${path}: ${res.statusCode} ${message}`), { statusCode: res.statusCode }));
      });
      return;
    }
    res.setEncoding('utf8');
    let partial = '';
    res.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) deliver(line);
    });
    res.on('end', () => {
      deliver(partial);
      finish(null);
    });
  });
  req.on('socket', (s) => s.setKeepAlive(true, KEEPALIVE_MS));
  req.on('error', (err) => finish(err));
  req.end();

  function deliver(line: string): void {
    if (finished || !line.trim()) return;
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return; // a torn line can only come from a broken stream, which ends it anyway
    }
    if (typeof event.type !== 'string') return;
    try {
      onEvent(event.type, event.object);
    } catch (err) {
      // The handler could not take the event: end the watch (the informer relists) rather than
      // let the exception escape the socket's callback and the rest of the stream be skipped.
      finish(err instanceof Error ? err : new Error(String(err)));
      req.destroy();
    }
  }

  return {
    abort(): void {
      if (finished) return;
      finish(abortedError(path));
      req.destroy();
    },
  };
}

function abortedError(path: string): Error {
  const err = new Error(`watch ${path}: aborted`);
  err.name = 'AbortError';
  return err;
}
