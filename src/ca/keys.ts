// The X.509 library's set-up (used off the hot path: making a root, reading a CA's certificate)
// and key helpers. A CA key may be EC P-256/P-384 or RSA in PKCS#8, SEC1 or PKCS#1 PEM, so a
// plug-in CA or an existing istio-ca-secret loads as it is.
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import type { webcrypto as WebCrypto } from 'node:crypto';
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

export { x509 };
export type CryptoKey = WebCrypto.CryptoKey;
export type CryptoKeyPair = WebCrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A random positive 128-bit serial number, hex. */
export function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01; // never a leading zero byte, never negative
  return Buffer.from(bytes).toString('hex');
}

/** A new EC P-256 key pair. */
export async function generateEcKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

/** A WebCrypto private key as PKCS#8 PEM. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)), format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

/** Parses a private key PEM of any common encoding; throws a readable error. */
export function parsePrivateKey(pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new Error(`not a private key in PEM (PKCS#8, SEC1 or PKCS#1): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
