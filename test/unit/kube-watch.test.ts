// The watch stream against a local HTTP server standing in for the API server: events split
// across chunks arrive whole and in order, the end of the stream and every kind of failure end
// the watch exactly once, and abort() stops it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClusterAccess } from '../../src/kube/access.js';
import { watch } from '../../src/kube/watch.js';

type Respond = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let respond: Respond = () => undefined;
const server = http.createServer((req, res) => respond(req, res));
let access: ClusterAccess;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  access = new ClusterAccess(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { token: 'tkn' });
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function run(params: Record<string, string | number | boolean | undefined> = {}): { events: [string, unknown][]; done: Promise<(Error & { statusCode?: number }) | null>; handle: Promise<{ abort(): void }>; calls: () => number } {
  const events: [string, unknown][] = [];
  let calls = 0;
  let resolveDone!: (e: (Error & { statusCode?: number }) | null) => void;
  const done = new Promise<(Error & { statusCode?: number }) | null>((r) => (resolveDone = r));
  const handle = watch(access, '/api/v1/pods', params, (t, o) => events.push([t, o]), (err) => {
    calls++;
    resolveDone(err);
  });
  return { events, done, handle, calls: () => calls };
}

test('events split across chunks arrive whole, in order; the server ending the stream ends the watch with null', async () => {
  let seen: http.IncomingMessage | undefined;
  respond = (req, res) => {
    seen = req;
    res.writeHead(200, { 'content-type': 'application/json' });
    const lines = `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } })}\n${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })}\n${JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'a' } } })}`;
    // Cut in the middle of the first event and of the last, then end without a final newline.
    res.write(lines.slice(0, 20));
    setTimeout(() => res.write(lines.slice(20, lines.length - 5)), 10);
    setTimeout(() => res.end(lines.slice(lines.length - 5)), 20);
  };
  const w = run({ resourceVersion: '4', allowWatchBookmarks: true, labelSelector: undefined });
  expect(await w.done).toBeNull();
  expect(w.events).toEqual([
    ['ADDED', { metadata: { name: 'a', resourceVersion: '5' } }],
    ['BOOKMARK', { metadata: { resourceVersion: '9' } }],
    ['DELETED', { metadata: { name: 'a' } }],
  ]);
  const url = new URL(seen!.url!, 'http://x');
  expect(url.pathname).toBe('/api/v1/pods');
  expect(Object.fromEntries(url.searchParams)).toEqual({ watch: 'true', resourceVersion: '4', allowWatchBookmarks: 'true' });
  expect(seen!.headers.authorization).toBe('Bearer tkn');
  expect(w.calls()).toBe(1);
});

test('an answer other than 200 ends the watch with its status code and the Status message', async () => {
  respond = (_req, res) => {
    res.writeHead(410, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 4 (77)' }));
  };
  const err = await run().done;
  expect(err?.statusCode).toBe(410);
  expect(err?.message).toBe('watch /api/v1/pods: 410 too old resource version: 4 (77)');
});

test('a connection cut in the middle of the stream is an error, not a normal end', async () => {
  respond = (_req, res) => {
    res.writeHead(200);
    res.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'b' } } })}\n`);
    setTimeout(() => res.socket?.destroy(), 10);
  };
  const w = run();
  const err = await w.done;
  expect(err).not.toBeNull();
  expect(err?.name).not.toBe('AbortError');
  expect(err?.message).toMatch(/aborted|closed before the stream ended/);
  expect(w.events).toEqual([['ADDED', { metadata: { name: 'b' } }]]);
});

test('abort() ends the watch once, as an AbortError, and delivers nothing after', async () => {
  let res: http.ServerResponse | undefined;
  respond = (_req, r) => {
    res = r;
    r.writeHead(200);
    r.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'c' } } })}\n`);
  };
  const w = run();
  const handle = await w.handle;
  while (w.events.length === 0) await new Promise((r) => setTimeout(r, 5));
  handle.abort();
  handle.abort();
  const err = await w.done;
  expect(err?.name).toBe('AbortError');
  res?.write(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'late' } } })}\n`);
  await new Promise((r) => setTimeout(r, 20));
  expect(w.events).toHaveLength(1);
  expect(w.calls()).toBe(1);
});

test('an error answer cut before its end still ends the watch, with its status code', async () => {
  respond = (_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.write('{"kind":"Status","mess');
    setTimeout(() => res.socket?.destroy(), 10);
  };
  const err = await run().done;
  expect(err?.statusCode).toBe(500);
});

test('a handler that throws ends the watch with its error instead of crashing the process', async () => {
  respond = (_req, res) => {
    res.writeHead(200);
    res.write(`${JSON.stringify({ type: 'ADDED', object: null })}\n${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'next' } } })}\n`);
  };
  const seen: string[] = [];
  const err = await new Promise<Error | null>((resolve) => {
    void watch(access, '/api/v1/pods', {}, (_t, o) => {
      seen.push(JSON.stringify(o));
      if (o === null) throw new Error('no object');
    }, resolve);
  });
  expect(err?.message).toBe('no object');
  expect(seen).toEqual(['null']); // nothing delivered after the failure
});

test('an API server that is not there ends the watch with the connection error', async () => {
  const closed = new ClusterAccess('http://127.0.0.1:1', {});
  const err = await new Promise<Error | null>((resolve) => void watch(closed, '/api/v1/pods', {}, () => undefined, resolve));
  expect(err?.message).toMatch(/ECONNREFUSED/);
});
