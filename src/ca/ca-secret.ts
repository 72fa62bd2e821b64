// Which CA the control plane signs with (at start; ca-controller.ts follows changes):
//  1. a plug-in CA: the Secret `cacerts` in the control plane's namespace, with Istio's keys
//     (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem), validated before use;
//  2. else the self-signed root kept in the Secret `istio-ca-secret` (Istio's name and type, so
//     an existing Istio installation's root carries over), created on the first start. Two
//     replicas starting together race to create it: the loser (409) reads the winner's.
import { ApiError, type Rest } from '../kube/rest.js';
import type { Logger } from '../util/logger.js';
import { MeshCa } from './authority.js';
import { CA_CERT, CA_KEY, CaMaterialError, CERT_CHAIN, ROOT_CERT } from './chain.js';

export const PLUGIN_SECRET = 'cacerts';
export const SELF_SIGNED_SECRET = 'istio-ca-secret';
export const SELF_SIGNED_SECRET_TYPE = 'istio.io/ca-root';

export interface LoadCaOptions {
  /** The control plane's namespace, where both Secrets live. */
  namespace: string;
  /** The self-signed root's Secret (default istio-ca-secret). */
  secretName?: string;
  trustDomain: string;
  log: Logger;
  /** The plug-in CA's Secret (default cacerts). */
  pluginSecretName?: string;
  /** Longest workload certificate (default 90 days). */
  maxTtlSeconds?: number;
  /** Root lifetime in days when one is created (default 3650). */
  rootDays?: number;
}

export interface Secret {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

/** The Secret, or undefined when it does not exist. */
export async function readSecret(rest: Pick<Rest, 'get'>, namespace: string, name: string): Promise<Secret | undefined> {
  try {
    return await rest.get<Secret>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    if (err instanceof ApiError && err.status === 403) {
      throw new Error(`cannot read Secret ${namespace}/${name}: forbidden (the control plane's service account needs get/create on secrets in its namespace)`, { cause: err });
    }
    throw err;
  }
}

function field(secret: Secret, where: string, key: string, required: boolean): string | undefined {
  const b64 = secret.data?.[key];
  if (b64 === undefined || b64 === '') {
    if (required) throw new Error(`Secret ${where}: ${key}: missing (a CA Secret needs ${[CA_CERT, CA_KEY].join(', ')}${where.endsWith(`/${PLUGIN_SECRET}`) ? `, ${ROOT_CERT} and ${CERT_CHAIN}` : ''})`);
    return undefined;
  }
  return Buffer.from(b64, 'base64').toString('utf8');
}

async function fromPem(where: string, pem: { caCertPem: string; caKeyPem: string; rootCertPem: string; certChainPem?: string }, opts: LoadCaOptions): Promise<MeshCa> {
  try {
    return await MeshCa.fromPem(pem, { trustDomain: opts.trustDomain, maxTtlSeconds: opts.maxTtlSeconds });
  } catch (err) {
    if (err instanceof CaMaterialError) throw new Error(`Secret ${where}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** The plug-in CA of `cacerts`; throws naming the Secret and key when it is unusable. */
export async function pluginCa(secret: Secret, where: string, opts: LoadCaOptions): Promise<MeshCa> {
  const caCertPem = field(secret, where, CA_CERT, true)!;
  const caKeyPem = field(secret, where, CA_KEY, true)!;
  const rootCertPem = field(secret, where, ROOT_CERT, true)!;
  const certChainPem = field(secret, where, CERT_CHAIN, false);
  return fromPem(where, { caCertPem, caKeyPem, rootCertPem, certChainPem }, opts);
}

/** The self-signed root of istio-ca-secret: ca-cert.pem is the root and signs. */
export async function selfSignedCa(secret: Secret, where: string, opts: LoadCaOptions): Promise<MeshCa> {
  const caCertPem = field(secret, where, CA_CERT, true)!;
  const caKeyPem = field(secret, where, CA_KEY, true)!;
  return fromPem(where, { caCertPem, caKeyPem, rootCertPem: caCertPem }, opts);
}

export function warnIfExpiring(ca: MeshCa, where: string, log: Logger): void {
  const days = Math.floor((ca.notAfter.getTime() - Date.now()) / 86_400_000);
  if (days < 365) log.warn('the CA certificate expires within a year: plan its rotation', { secret: where, notAfter: ca.notAfter.toISOString(), daysLeft: days });
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The mesh CA for this control plane: the plug-in CA if there is one, else the self-signed root. */
export async function loadOrCreateCa(rest: Pick<Rest, 'get' | 'post'>, opts: LoadCaOptions): Promise<MeshCa> {
  const { namespace, log } = opts;
  const pluginName = opts.pluginSecretName ?? PLUGIN_SECRET;
  const secretName = opts.secretName ?? SELF_SIGNED_SECRET;

  const plugin = await readSecret(rest, namespace, pluginName);
  if (plugin) {
    const where = `${namespace}/${pluginName}`;
    const ca = await pluginCa(plugin, where, opts);
    log.info('signing with the plug-in CA', { secret: where, chainLength: ca.certChain.length, notAfter: ca.notAfter.toISOString() });
    warnIfExpiring(ca, where, log);
    return ca;
  }

  const where = `${namespace}/${secretName}`;
  const existing = await readSecret(rest, namespace, secretName);
  if (existing) {
    const ca = await selfSignedCa(existing, where, opts);
    log.info('signing with the self-signed root', { secret: where, notAfter: ca.notAfter.toISOString() });
    warnIfExpiring(ca, where, log);
    return ca;
  }

  const created = await MeshCa.create({ trustDomain: opts.trustDomain, maxTtlSeconds: opts.maxTtlSeconds, days: opts.rootDays });
  const body: Secret & { apiVersion: string; kind: string } = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName, namespace },
    type: SELF_SIGNED_SECRET_TYPE,
    data: { [CA_CERT]: b64(created.signingCertPem), [CA_KEY]: b64(created.signingKeyPem) },
  };
  try {
    await rest.post(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`, body);
    log.info('created a self-signed root', { secret: where, trustDomain: opts.trustDomain, notAfter: created.notAfter.toISOString() });
    return created;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw new Error(`cannot create Secret ${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  // Another replica created it first: use the winner's root, so every replica signs with one CA.
  const winner = await readSecret(rest, namespace, secretName);
  if (!winner) throw new Error(`Secret ${where}: creating it conflicted, yet it cannot be read back`);
  const ca = await selfSignedCa(winner, where, opts);
  log.info('another replica created the self-signed root; using it', { secret: where });
  return ca;
}
