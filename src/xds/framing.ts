// gRPC's message framing (a flag byte and a 4-byte length before each message) written once per
// response, not once per write. grpc-js frames every message it sends by allocating a new
// buffer and copying the message into it, so a route table shared by 2,000 streams was copied
// 2,000 times: a fifth of the control plane's CPU for a route change at 1,000 services
// (BENCHMARKS.md), most of it the kernel handing out and zeroing fresh pages for each copy.
//
// A response is therefore encoded into a buffer that leaves room for the frame header
// (`framedBuffer`); the message is a view into it, and the frame is remembered beside it.
// `installFramedWrites` lets grpc-js write that frame as it is. grpc-js has no public way to
// send a framed message, so this replaces one method of its server call, for framed messages
// only: everything else takes grpc-js's own path, and if a grpc-js upgrade moves the method the
// installation says so and every write takes grpc-js's path (correct, one copy more).
// test/unit/xds-framing.test.ts fails if the pinned grpc-js no longer takes the patch.
import { createRequire } from 'node:module';

export const FRAME_HEADER_BYTES = 5;

/** A message view → its whole frame (header included), for the buffers framedBuffer made. */
const frames = new WeakMap<Uint8Array, Buffer>();

/**
 * A buffer for a message of `size` bytes with its gRPC frame header already written in front:
 * fill the returned message view; the frame is what framedWrites send.
 */
export function framedBuffer(size: number): Buffer {
  const frame = Buffer.allocUnsafe(size + FRAME_HEADER_BYTES);
  frame[0] = 0; // not compressed
  frame.writeUInt32BE(size, 1);
  const message = frame.subarray(FRAME_HEADER_BYTES);
  frames.set(message, frame);
  return message;
}

/** The whole frame of a message framedBuffer made, or undefined. */
export function frameOf(message: unknown): Buffer | undefined {
  return message instanceof Uint8Array ? frames.get(message) : undefined;
}

interface ServerCallPrototype {
  serializeMessage(this: unknown, value: unknown): Buffer;
}

let installed: boolean | undefined;

/**
 * Makes grpc-js's server calls write framed messages without copying them. Idempotent. False
 * (and nothing changed) when this grpc-js has no such method to extend.
 */
export function installFramedWrites(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  let proto: ServerCallPrototype | undefined;
  try {
    // The module grpc-js's own server uses (CommonJS, so the same instance as the import's).
    const mod = createRequire(import.meta.url)('@grpc/grpc-js/build/src/server-interceptors.js') as { BaseServerInterceptingCall?: { prototype: ServerCallPrototype } };
    proto = mod.BaseServerInterceptingCall?.prototype;
  } catch {
    return installed;
  }
  if (!proto || typeof proto.serializeMessage !== 'function' || proto.serializeMessage.length !== 1) return installed;
  const own = proto.serializeMessage;
  proto.serializeMessage = function (this: unknown, value: unknown): Buffer {
    return frameOf(value) ?? own.call(this, value);
  };
  return (installed = true);
}
