// The wire format of Istio's certificate service, as protobufjs reflection. The interface, in
// .proto terms:
//
//   package istio.v1.auth;
//   service IstioCertificateService {
//     rpc CreateCertificate(IstioCertificateRequest) returns (IstioCertificateResponse);
//   }
//   message IstioCertificateRequest {
//     string csr = 1;                        // PEM PKCS#10
//     int64 validity_duration = 3;           // seconds; 0: the CA's default
//     google.protobuf.Struct metadata = 4;   // optional; not used by Trellis
//   }
//   message IstioCertificateResponse {
//     repeated string cert_chain = 1;        // PEM, leaf first, root last
//   }
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const CERTIFICATE_SERVICE = 'istio.v1.auth.IstioCertificateService';
export const CREATE_CERTIFICATE_PATH = `/${CERTIFICATE_SERVICE}/CreateCertificate`;

export interface CertificateRequest {
  csr: string;
  /** Seconds; 0 asks for the CA's default. */
  validityDuration: number;
  /** The names in `metadata` (decoding only; e.g. Istio's ImpersonatedIdentity). */
  metadataKeys?: string[];
}

export interface CertificateResponse {
  certChain: string[];
}

const istio = {
  istio: {
    nested: {
      v1: {
        nested: {
          auth: {
            nested: {
              IstioCertificateRequest: {
                fields: {
                  csr: { type: 'string', id: 1 },
                  validityDuration: { type: 'int64', id: 3 },
                  metadata: { type: 'google.protobuf.Struct', id: 4 },
                },
              },
              IstioCertificateResponse: { fields: { certChain: { rule: 'repeated', type: 'string', id: 1 } } },
            },
          },
        },
      },
    },
  },
};

// protobufjs bundles google/protobuf/struct.proto's definitions.
const root = new protobuf.Root().addJSON(protobuf.common.get('google/protobuf/struct.proto')!.nested!).addJSON(istio);
root.resolveAll();

const Request = root.lookupType('istio.v1.auth.IstioCertificateRequest');
const Response = root.lookupType('istio.v1.auth.IstioCertificateResponse');

export function encodeRequest(r: CertificateRequest): Buffer {
  return Buffer.from(Request.encode(Request.fromObject({ csr: r.csr, validityDuration: r.validityDuration })).finish());
}

/** Throws on bytes that are not an IstioCertificateRequest. */
export function decodeRequest(b: Buffer): CertificateRequest {
  const o = Request.toObject(Request.decode(b), { longs: Number, defaults: true }) as { csr: string; validityDuration: number; metadata?: { fields?: Record<string, unknown> } };
  const keys = Object.keys(o.metadata?.fields ?? {});
  return { csr: o.csr, validityDuration: o.validityDuration, ...(keys.length ? { metadataKeys: keys } : {}) };
}

export function encodeResponse(r: CertificateResponse): Buffer {
  return Buffer.from(Response.encode(Response.fromObject(r)).finish());
}

export function decodeResponse(b: Buffer): CertificateResponse {
  const o = Response.toObject(Response.decode(b), { defaults: true }) as { certChain: string[] };
  return { certChain: o.certChain };
}

export const createCertificateMethod: grpc.MethodDefinition<CertificateRequest, CertificateResponse> = {
  path: CREATE_CERTIFICATE_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: encodeRequest,
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: decodeResponse,
};

export const certificateServiceDefinition = { CreateCertificate: createCertificateMethod } satisfies grpc.ServiceDefinition;
