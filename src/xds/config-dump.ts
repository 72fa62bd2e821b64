// A readable dump of what a proxy is given: every resource by type and name, with packed
// `typed_config` Anys decoded (for trellisctl proxy-config and /debug/config_dump).
import { unpackAny } from './protos.js';
import { SHORT_NAME, type TypeUrl } from './types.js';
import type { Snapshot } from './snapshot.js';

function isAny(v: unknown): v is { type_url: string; value: Uint8Array | Buffer } {
  return typeof v === 'object' && v !== null && typeof (v as { type_url?: unknown }).type_url === 'string' && (v as { value?: unknown }).value instanceof Uint8Array;
}

/** Fields never shown: a private key stays with the proxy it belongs to. */
const REDACTED_FIELDS = new Set(['private_key', 'password']);
export const REDACTED = '[redacted]';

/** A JSON-friendly copy: Anys decoded (with their @type), byte fields as base64, keys redacted. */
export function readable(v: unknown): unknown {
  if (isAny(v)) {
    try {
      return readable(unpackAny(v));
    } catch {
      return { '@type': v.type_url, value: Buffer.from(v.value).toString('base64') };
    }
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(readable);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, readable(x)]));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, REDACTED_FIELDS.has(k) ? REDACTED : readable(x)]));
  return v;
}

/** { cds: {name: resource}, lds: ..., rds: ..., eds: ..., sds: ... } */
export function configDump(snapshot: Snapshot): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [type, resources] of Object.entries(snapshot) as [TypeUrl, ReadonlyMap<string, unknown>][]) {
    if (!resources) continue;
    out[SHORT_NAME[type]] = Object.fromEntries([...resources].map(([name, r]) => [name, readable(r)]));
  }
  return out;
}
