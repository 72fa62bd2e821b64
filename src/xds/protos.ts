// Envoy's protos, loaded once with protobufjs from the .proto files @grpc/grpc-js-xds ships.
// Field names stay snake_case (keepCase), as in Envoy's docs, config dumps and the generated
// types; decoded messages carry longs and enums as strings, defaults and oneof names, matching
// the `__Output` types scripts/gen-xds-types.sh generates.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_FILES } from './proto-files.js';

const require = createRequire(import.meta.url);

export const DECODE_OPTIONS: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true, arrays: true, objects: true };

/** Where the .proto files live: grpc-js-xds' copies of Envoy, xds, googleapis and validate. */
export function protoIncludeDirs(): string[] {
  const xds = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const pbjs = path.dirname(require.resolve('protobufjs/package.json'));
  // protobufjs bundles google/protobuf/descriptor.proto, which validate.proto imports.
  return [...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(xds, 'deps', d)), pbjs];
}

let root: protobuf.Root | undefined;

/** The protobufjs root with every file of PROTO_FILES loaded and resolved (loaded on first use). */
export function protoRoot(): protobuf.Root {
  if (root) return root;
  const dirs = protoIncludeDirs();
  const r = new protobuf.Root();
  r.resolvePath = (_origin: string, target: string): string => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const full = path.join(dir, target);
      if (fs.existsSync(full)) return full;
    }
    return target;
  };
  r.loadSync([...PROTO_FILES], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

const types = new Map<string, protobuf.Type>();

/** A message type by its fully qualified name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function messageType(name: string): protobuf.Type {
  let t = types.get(name);
  if (!t) {
    t = protoRoot().lookupType(name);
    types.set(name, t);
  }
  return t;
}

/**
 * Encodes a plain message object. `fromObject` first: it turns enum names into numbers and
 * checks the shape (throws on a field of the wrong kind), which `encode` alone does not.
 */
export function encodeMessage(name: string, obj: object): Uint8Array {
  const t = messageType(name);
  return t.encode(t.fromObject(obj as Record<string, unknown>)).finish();
}

export function decodeMessage<T>(name: string, bytes: Uint8Array): T {
  const t = messageType(name);
  return t.toObject(t.decode(bytes), DECODE_OPTIONS) as T;
}

/** A `google.protobuf.Any` holding `obj` encoded as message `name` (for `typed_config` fields). */
export function packAny(name: string, obj: object): { type_url: string; value: Buffer } {
  return { type_url: `type.googleapis.com/${name}`, value: Buffer.from(encodeMessage(name, obj)) };
}

/** Decodes an Any into a plain object with its `@type`, for logs and tests. */
export function unpackAny(any: { type_url?: string; value?: Uint8Array | Buffer | string | null }): Record<string, unknown> {
  const typeUrl = any.type_url ?? '';
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const value = typeof any.value === 'string' ? Buffer.from(any.value, 'base64') : (any.value ?? new Uint8Array());
  return { '@type': typeUrl, ...decodeMessage<Record<string, unknown>>(name, value) };
}
