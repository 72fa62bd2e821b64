// The few protobuf messages the agent's SDS server speaks, as a small protobufjs root: the
// discovery request and response (state of the world and delta) and Envoy's Secret. Field
// numbers are Envoy's (envoy/service/discovery/v3/discovery.proto,
// envoy/extensions/transport_sockets/tls/v3/{secret,common}.proto,
// envoy/config/core/v3/base.proto). Loading every Envoy proto (src/xds/protos.ts) would cost
// the agent, which runs in every pod, about 13 MB for three messages; fields not listed here
// (e.g. the rest of the node) are skipped when decoding.
import protobuf from 'protobufjs';

const str = (id: number) => ({ type: 'string', id });
const bytes = (id: number) => ({ type: 'bytes', id });
const msg = (type: string, id: number) => ({ type, id });
const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id });

const descriptor = {
  nested: {
    sds: {
      nested: {
        Any: { fields: { type_url: str(1), value: bytes(2) } },
        Status: { fields: { code: { type: 'int32', id: 1 }, message: str(2) } },
        Node: { fields: { id: str(1), cluster: str(2) } },
        ControlPlane: { fields: { identifier: str(1) } },
        DiscoveryRequest: {
          fields: { version_info: str(1), node: msg('Node', 2), resource_names: repeated('string', 3), type_url: str(4), response_nonce: str(5), error_detail: msg('Status', 6) },
        },
        DiscoveryResponse: {
          fields: { version_info: str(1), resources: repeated('Any', 2), type_url: str(4), nonce: str(5), control_plane: msg('ControlPlane', 6) },
        },
        DeltaDiscoveryRequest: {
          fields: {
            node: msg('Node', 1),
            type_url: str(2),
            resource_names_subscribe: repeated('string', 3),
            resource_names_unsubscribe: repeated('string', 4),
            initial_resource_versions: { keyType: 'string', type: 'string', id: 5 },
            response_nonce: str(6),
            error_detail: msg('Status', 7),
          },
        },
        Resource: { fields: { version: str(1), resource: msg('Any', 2), name: str(3) } },
        DeltaDiscoveryResponse: {
          fields: { system_version_info: str(1), resources: repeated('Resource', 2), type_url: str(4), nonce: str(5), removed_resources: repeated('string', 6), control_plane: msg('ControlPlane', 7) },
        },
        // envoy.config.core.v3.DataSource (only inline_bytes is written) and the TLS messages.
        DataSource: { fields: { filename: str(1), inline_bytes: bytes(2), inline_string: str(3) } },
        TlsCertificate: { fields: { certificate_chain: msg('DataSource', 1), private_key: msg('DataSource', 2) } },
        CertificateValidationContext: { fields: { trusted_ca: msg('DataSource', 1) } },
        Secret: { fields: { name: str(1), tls_certificate: msg('TlsCertificate', 2), validation_context: msg('CertificateValidationContext', 4) } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(descriptor);
root.resolveAll();
const type = (name: string): protobuf.Type => root.lookupType(`sds.${name}`);
const T = {
  DiscoveryRequest: type('DiscoveryRequest'),
  DiscoveryResponse: type('DiscoveryResponse'),
  DeltaDiscoveryRequest: type('DeltaDiscoveryRequest'),
  DeltaDiscoveryResponse: type('DeltaDiscoveryResponse'),
  Secret: type('Secret'),
};

export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

export interface Status {
  code: number;
  message: string;
}
export interface Node {
  id: string;
  cluster: string;
}

export interface DiscoveryRequest {
  version_info: string;
  node?: Node;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: Status;
}

export interface DeltaDiscoveryRequest {
  node?: Node;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: Status;
}

/** A Secret serialised once; `version` is a hash of its bytes. */
export interface EncodedSecret {
  name: string;
  version: string;
  bytes: Uint8Array;
}

const DECODE: protobuf.IConversionOptions = { defaults: true, arrays: true, objects: true };

export const decodeDiscoveryRequest = (b: Buffer): DiscoveryRequest => T.DiscoveryRequest.toObject(T.DiscoveryRequest.decode(b), DECODE) as DiscoveryRequest;
export const decodeDeltaDiscoveryRequest = (b: Buffer): DeltaDiscoveryRequest => T.DeltaDiscoveryRequest.toObject(T.DeltaDiscoveryRequest.decode(b), DECODE) as DeltaDiscoveryRequest;

/** PEM contents of the two kinds of Secret the agent serves. */
export type SecretContent = { certificateChainPem: string; privateKeyPem: string } | { trustedCaPem: string };

export function encodeSecret(name: string, c: SecretContent): Uint8Array {
  const body =
    'trustedCaPem' in c
      ? { name, validation_context: { trusted_ca: { inline_bytes: Buffer.from(c.trustedCaPem) } } }
      : { name, tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(c.certificateChainPem) }, private_key: { inline_bytes: Buffer.from(c.privateKeyPem) } } };
  return T.Secret.encode(T.Secret.fromObject(body)).finish();
}

const any = (s: EncodedSecret) => ({ type_url: SECRET_TYPE_URL, value: s.bytes });

export function encodeDiscoveryResponse(r: { versionInfo: string; nonce: string; secrets: readonly EncodedSecret[]; controlPlane: string }): Buffer {
  const body = { version_info: r.versionInfo, resources: r.secrets.map(any), type_url: SECRET_TYPE_URL, nonce: r.nonce, control_plane: { identifier: r.controlPlane } };
  return Buffer.from(T.DiscoveryResponse.encode(T.DiscoveryResponse.fromObject(body)).finish());
}

export function encodeDeltaDiscoveryResponse(r: { systemVersionInfo: string; nonce: string; secrets: readonly EncodedSecret[]; removed: readonly string[]; controlPlane: string }): Buffer {
  const body = {
    system_version_info: r.systemVersionInfo,
    resources: r.secrets.map((s) => ({ version: s.version, resource: any(s), name: s.name })),
    type_url: SECRET_TYPE_URL,
    nonce: r.nonce,
    removed_resources: [...r.removed],
    control_plane: { identifier: r.controlPlane },
  };
  return Buffer.from(T.DeltaDiscoveryResponse.encode(T.DeltaDiscoveryResponse.fromObject(body)).finish());
}

/** For tests and tools: a response decoded back into plain objects (bytes as Buffers). */
export function decodeDiscoveryResponse(b: Uint8Array): { version_info: string; nonce: string; type_url: string; resources: { type_url: string; value: Uint8Array }[] } {
  return T.DiscoveryResponse.toObject(T.DiscoveryResponse.decode(b), DECODE) as never;
}

export function decodeSecret(b: Uint8Array): { name: string; tls_certificate?: { certificate_chain?: { inline_bytes: Uint8Array }; private_key?: { inline_bytes: Uint8Array } }; validation_context?: { trusted_ca?: { inline_bytes: Uint8Array } } } {
  return T.Secret.toObject(T.Secret.decode(b), { arrays: true }) as never;
}
