// A workload's certificate signing request, made where the key lives: an EC P-256 key generated
// locally (it never leaves the process) and a PKCS#10 request whose only content is the SPIFFE
// URI, in a critical subjectAltName (the subject is empty, as Istio's agent sends it).
// Built with node:crypto and a few lines of DER rather than an X.509 library: the sidecar agent
// imports this, and its memory matters.
import { generateKeyPairSync, sign } from 'node:crypto';
import { bitString, boolTrue, ctx, ctxPrimitive, octets, oid, seq, tlv, TAG } from './der.js';
import { OID } from './oids.js';
import { derToPem } from './pem.js';

export interface WorkloadCsr {
  /** PKCS#10, PEM ("CERTIFICATE REQUEST"). */
  csrPem: string;
  /** The private key, PKCS#8 PEM ("PRIVATE KEY"). */
  keyPem: string;
}

/** A new key and a CSR for `spiffeId` (e.g. spiffe://cluster.local/ns/default/sa/default). */
export function createCsr(spiffeId: string): WorkloadCsr {
  if (!/^spiffe:\/\/[\x21-\x7e]+$/.test(spiffeId)) throw new Error(`not a SPIFFE ID: ${JSON.stringify(spiffeId)}`);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const generalNames = seq(tlv(ctxPrimitive(6), Buffer.from(spiffeId, 'ascii'))); // uniformResourceIdentifier
  const sanExtension = seq(oid(OID.subjectAltName), boolTrue(), octets(generalNames));
  const attributes = tlv(ctx(0), seq(oid(OID.extensionRequest), tlv(TAG.SET, seq(sanExtension))));
  const info = seq(tlv(TAG.INTEGER, Buffer.from([0])), seq(), spki, attributes);
  const signature = sign('sha256', info, privateKey); // DER-encoded ECDSA signature
  const csr = seq(info, seq(oid(OID.ecdsaWithSha256)), bitString(signature));
  return { csrPem: derToPem(csr, 'CERTIFICATE REQUEST'), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export { spiffeId } from '../api/mesh-identity.js';
