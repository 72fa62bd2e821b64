// Pre-framed responses: grpc-js writes the frame framedBuffer built (no copy), byte for byte what
// it would have framed itself, over a real gRPC connection; other messages take its own path.
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { FRAME_HEADER_BYTES, frameOf, framedBuffer, installFramedWrites } from '../../src/xds/framing.js';

const identity = (b: Buffer): Buffer => b;

interface Serializing {
  serializeMessage(this: unknown, value: unknown): Buffer;
}
const serverCall = (createRequire(import.meta.url)('@grpc/grpc-js/build/src/server-interceptors.js') as { BaseServerInterceptingCall: { prototype: Serializing } }).BaseServerInterceptingCall.prototype;

function message(size: number, seed: number): Buffer {
  const m = framedBuffer(size);
  for (let i = 0; i < size; i++) m[i] = (i * 31 + seed) & 0xff;
  return m;
}

test('the pinned grpc-js takes the framed writes', () => {
  expect(installFramedWrites()).toBe(true);
  expect(installFramedWrites()).toBe(true); // idempotent
});

test('a framed message is its frame, header in front; other buffers have none', () => {
  const m = message(300, 1);
  const frame = frameOf(m)!;
  expect(frame.length).toBe(300 + FRAME_HEADER_BYTES);
  expect(frame[0]).toBe(0);
  expect(frame.readUInt32BE(1)).toBe(300);
  expect(frame.subarray(FRAME_HEADER_BYTES).equals(m)).toBe(true);
  expect(frameOf(Buffer.from(m))).toBeUndefined();
  expect(frameOf(m.subarray(1))).toBeUndefined();
  expect(frameOf('text')).toBeUndefined();
});

test('grpc-js sends a framed message as the same buffer, and frames any other itself', () => {
  installFramedWrites();
  const call = { handler: { serialize: identity } };
  const m = message(200_000, 2);
  expect(serverCall.serializeMessage.call(call, m)).toBe(frameOf(m));
  const plain = Buffer.from(m);
  const framedByGrpc = serverCall.serializeMessage.call(call, plain);
  expect(framedByGrpc).not.toBe(plain);
  expect(framedByGrpc.equals(frameOf(m)!)).toBe(true);
});

test('framed and unframed messages arrive intact over a real gRPC stream', async () => {
  installFramedWrites();
  const sizes = [0, 1, 4_000, 70_000, 1_100_000];
  const sent = [...sizes.map((n, i) => message(n, i)), Buffer.from('not framed here')];
  const method = { path: '/trellis.test.Frames/Stream', requestStream: false, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
  const server = new grpc.Server();
  server.addService({ Stream: method }, {
    Stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      // The same framed message twice: shared responses go to many streams, and to one stream
      // more than once over its life.
      for (const m of [...sent, sent[2]]) call.write(m);
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const received = await new Promise<Buffer[]>((resolve, reject) => {
      const got: Buffer[] = [];
      const stream = client.makeServerStreamRequest(method.path, identity, identity, Buffer.alloc(0));
      stream.on('data', (b: Buffer) => got.push(b));
      stream.on('error', reject);
      stream.on('end', () => resolve(got));
    });
    expect(received.map((b) => b.length)).toEqual([...sent, sent[2]].map((b) => b.length));
    for (const [i, m] of [...sent, sent[2]].entries()) expect(received[i].equals(m)).toBe(true);
  } finally {
    client.close();
    server.forceShutdown();
  }
});
