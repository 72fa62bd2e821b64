// The mesh certificate authority: a signing certificate and key, the chain up to the root, and
// the root itself. It issues workload certificates for an authenticated SPIFFE identity (the
// caller proves who it is elsewhere; the CSR must ask for exactly that identity) and the control
// plane's own serving certificate.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { validateCaMaterial, type CaMaterial } from './chain.js';
import { CsrRejected, checkCsr } from './csr-check.js';
import { spiffeId } from './csr.js';
import { issueLeaf, signatureFor, subjectOf, type Issuer } from './issue.js';
import { EC_P256, generateEcKeyPair, privateKeyPem, serialNumber, x509 } from './keys.js';
import { OID } from './oids.js';

export { CsrRejected } from './csr-check.js';

const DAY_S = 86_400;
/** Istio's longest workload certificate: 90 days. */
export const DEFAULT_MAX_TTL_SECONDS = 90 * DAY_S;
/** Backdating, so a peer whose clock is a little behind accepts a new certificate. */
const BACKDATE_MS = 60_000;

export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export interface MeshCaOptions {
  trustDomain: string;
  /** Workload certificates never live longer than this (default 90 days). */
  maxTtlSeconds?: number;
}

export interface SelfSignedOptions extends MeshCaOptions {
  /** Root lifetime in days (default 3650). */
  days?: number;
  now?: Date;
}

/** Whole seconds: certificate times have no finer precision. */
const seconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);

export class MeshCa {
  private constructor(
    readonly trustDomain: string,
    private readonly issuer: Issuer,
    private readonly keyPem: string,
    /** Signing certificate first, root last. */
    private readonly chain: readonly string[],
    private readonly roots: string,
    private readonly maxTtlSeconds: number,
    /** When the signing certificate (or an issuer above it) expires: nothing issued outlives it. */
    readonly notAfter: Date,
  ) {}

  /** A new self-signed root (EC P-256, O=<trust domain>), which also signs. */
  static async create(opts: SelfSignedOptions): Promise<MeshCa> {
    const now = opts.now ?? new Date();
    const keys = await generateEcKeyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: [{ O: [opts.trustDomain] }],
      notBefore: seconds(now.getTime() - BACKDATE_MS),
      notAfter: seconds(now.getTime() + (opts.days ?? 3650) * DAY_S * 1000),
      signingAlgorithm: EC_P256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pem = `${cert.toString('pem')}\n`;
    return MeshCa.fromPem({ caCertPem: pem, caKeyPem: await privateKeyPem(keys.privateKey), rootCertPem: pem }, opts, now);
  }

  /**
   * A CA from PEM files (a plug-in CA, or a stored self-signed root), validated first: throws
   * CaMaterialError naming the file at fault.
   */
  static async fromPem(material: CaMaterial, opts: MeshCaOptions, now = new Date()): Promise<MeshCa> {
    const valid = validateCaMaterial(material, now);
    signatureFor(valid.signingKey); // refuses a key type the CA cannot sign with, now rather than per request
    const cert = new x509.X509Certificate(valid.chain[0]);
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension) ?? (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey));
    const issuer: Issuer = { subjectDer: subjectOf(new X509Certificate(valid.chain[0]).raw), key: valid.signingKey, keyId: Buffer.from(ski.keyId, 'hex') };
    const keyPem = valid.signingKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const notAfter = new Date(Math.min(...valid.chain.map((pem) => new Date(new X509Certificate(pem).validTo).getTime())));
    return new MeshCa(opts.trustDomain, issuer, keyPem, valid.chain, valid.rootPem, opts.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS, notAfter);
  }

  /** The trust bundle: every root certificate (PEM), what workloads verify peers against. */
  get rootPem(): string {
    return this.roots;
  }

  /** The signing certificate (PEM); the root itself for a self-signed CA. */
  get signingCertPem(): string {
    return this.chain[0];
  }

  /** The signing key (PKCS#8 PEM), for storing a self-signed root in its Secret. */
  get signingKeyPem(): string {
    return this.keyPem;
  }

  /** The CA's chain (Istio's cert-chain.pem): signing certificate first, root last. */
  get certChain(): readonly string[] {
    return this.chain;
  }

  /** True when the signing certificate is its own root. */
  get selfSigned(): boolean {
    return this.chain.length === 1;
  }

  /**
   * Signs a workload's CSR for `identity` (already authenticated): the CSR must verify and ask
   * for exactly spiffe://<trust domain>/ns/<namespace>/sa/<service account>. Returns the chain
   * as Istio's CreateCertificate does: the leaf first, the root last. Throws CsrRejected.
   */
  async sign(csrPem: string, identity: WorkloadIdentity, ttlSeconds: number, now = new Date()): Promise<string[]> {
    if (identity.trustDomain !== this.trustDomain) throw new Error(`this CA signs for trust domain ${this.trustDomain}, not ${identity.trustDomain}`);
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new CsrRejected('invalid', `the requested lifetime ${ttlSeconds}s is not positive`);
    const uri = spiffeId(identity);
    const csr = checkCsr(csrPem, uri);
    const leaf = this.issue(csr.spki, { uris: [uri] }, [OID.serverAuth, OID.clientAuth], Math.min(ttlSeconds, this.maxTtlSeconds) * 1000, now);
    return [leaf, ...this.chain];
  }

  /**
   * The control plane's own TLS serving certificate (xDS on 15012) for `dnsNames` (and `ips`,
   * e.g. 127.0.0.1 for a control plane on the host), with a new EC P-256 key. `cert` is the
   * leaf followed by the intermediates (the root is not sent).
   */
  async issueServing(dnsNames: string[], days: number, extra: { ips?: string[]; now?: Date } = {}): Promise<{ cert: string; key: string }> {
    const ips = extra.ips ?? [];
    if (dnsNames.length + ips.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP address');
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leaf = this.issue(publicKey.export({ type: 'spki', format: 'der' }), { dnsNames, ips }, [OID.serverAuth], days * DAY_S * 1000, extra.now ?? new Date());
    return { cert: [leaf, ...this.chain.slice(0, -1)].join(''), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  private issue(spki: Buffer, names: { uris?: string[]; dnsNames?: string[]; ips?: string[] }, eku: string[], lifetimeMs: number, now: Date): string {
    return issueLeaf(this.issuer, {
      spki,
      ...names,
      eku,
      notBefore: seconds(now.getTime() - BACKDATE_MS),
      notAfter: seconds(Math.min(now.getTime() + lifetimeMs, this.notAfter.getTime())),
    });
  }
}
