// Validating a CA's certificates and key before the CA signs anything with them: the key matches
// the certificate, the certificate may issue certificates, and the chain leads, signature by
// signature, to a self-signed root of root-cert.pem. Errors name the file (the Secret key) at
// fault, as Istio's plug-in CA layout has it.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { parsePrivateKey, x509 } from './keys.js';
import { splitPem } from './pem.js';

/** Istio's plug-in CA files (the keys of the `cacerts` Secret). */
export const CA_CERT = 'ca-cert.pem';
export const CA_KEY = 'ca-key.pem';
export const ROOT_CERT = 'root-cert.pem';
export const CERT_CHAIN = 'cert-chain.pem';

export class CaMaterialError extends Error {
  constructor(
    /** The file (Secret key) at fault, e.g. "ca-key.pem". */
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${key}: ${problem}`);
    this.name = 'CaMaterialError';
  }
}

export interface CaMaterial {
  caCertPem: string;
  caKeyPem: string;
  /** One or more trust anchors; the chain must end at one of them. */
  rootCertPem: string;
  /** The signing certificate, its intermediates and (optionally) the root, leaf-most first. */
  certChainPem?: string;
}

export interface ValidatedCa {
  signingKey: KeyObject;
  /** Signing certificate first, root last, as PEM. */
  chain: string[];
  /** Every certificate of root-cert.pem (the trust bundle to publish). */
  rootPem: string;
}

function describe(c: X509Certificate): string {
  const subject = (c.subject ?? '').replace(/\n/g, ', ');
  return subject ? `"${subject}"` : `with serial ${c.serialNumber} (empty subject)`;
}

function parseCerts(key: string, pem: string): X509Certificate[] {
  return splitPem(pem).map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new CaMaterialError(key, `certificate ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

function checkCurrent(key: string, c: X509Certificate, now: Date): void {
  if (new Date(c.validTo).getTime() <= now.getTime()) throw new CaMaterialError(key, `certificate ${describe(c)} expired on ${new Date(c.validTo).toISOString()}`);
  if (new Date(c.validFrom).getTime() > now.getTime() + 5 * 60_000) throw new CaMaterialError(key, `certificate ${describe(c)} is not valid before ${new Date(c.validFrom).toISOString()}`);
}

function checkCa(key: string, c: X509Certificate): void {
  if (!c.ca) throw new CaMaterialError(key, `certificate ${describe(c)} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  const usage = new x509.X509Certificate(c.raw).getExtension(x509.KeyUsagesExtension);
  if (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) throw new CaMaterialError(key, `certificate ${describe(c)} may not sign certificates (keyUsage lacks keyCertSign)`);
}

const signedBy = (c: X509Certificate, issuer: X509Certificate): boolean => c.checkIssued(issuer) && c.verify(issuer.publicKey);

/** Checks a CA's certificates and key; throws CaMaterialError naming the file at fault. */
export function validateCaMaterial(m: CaMaterial, now = new Date()): ValidatedCa {
  const [caCert] = parseCerts(CA_CERT, m.caCertPem);
  if (!caCert) throw new CaMaterialError(CA_CERT, 'holds no PEM certificate');
  let key: KeyObject;
  try {
    key = parsePrivateKey(m.caKeyPem);
  } catch (err) {
    throw new CaMaterialError(CA_KEY, err instanceof Error ? err.message : String(err));
  }
  if (!caCert.checkPrivateKey(key)) throw new CaMaterialError(CA_KEY, `does not match the certificate in ${CA_CERT} (${describe(caCert)})`);
  checkCa(CA_CERT, caCert);
  checkCurrent(CA_CERT, caCert, now);

  const roots = parseCerts(ROOT_CERT, m.rootCertPem);
  if (roots.length === 0) throw new CaMaterialError(ROOT_CERT, 'holds no PEM certificate');
  const isRoot = (c: X509Certificate): X509Certificate | undefined => roots.find((r) => r.raw.equals(c.raw));

  const given = parseCerts(CERT_CHAIN, m.certChainPem ?? '');
  const chain = given.length > 0 && given[0].raw.equals(caCert.raw) ? given : [caCert, ...given];
  const path: X509Certificate[] = [];
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i];
    path.push(c);
    if (isRoot(c)) break;
    const next = chain[i + 1] ?? roots.find((r) => signedBy(c, r));
    if (!next) throw new CaMaterialError(ROOT_CERT, `the chain from ${CA_CERT} does not lead to a certificate of ${ROOT_CERT}: nothing there signed ${describe(c)}`);
    if (!signedBy(c, next)) throw new CaMaterialError(CERT_CHAIN, `certificate ${describe(c)} is not signed by the next certificate in the chain, ${describe(next)}`);
    checkCa(next === chain[i + 1] ? CERT_CHAIN : ROOT_CERT, next);
    checkCurrent(next === chain[i + 1] ? CERT_CHAIN : ROOT_CERT, next, now);
    if (i + 1 === chain.length) {
      path.push(next); // the root, from root-cert.pem
      break;
    }
  }
  const root = path[path.length - 1];
  if (!isRoot(root)) throw new CaMaterialError(ROOT_CERT, `the chain ends at ${describe(root)}, which is not in ${ROOT_CERT}`);
  if (!signedBy(root, root)) throw new CaMaterialError(ROOT_CERT, `certificate ${describe(root)} is not self-signed`);
  return { signingKey: key, chain: path.map((c) => `${c.toString().trim()}\n`), rootPem: roots.map((r) => `${r.toString().trim()}\n`).join('') };
}
