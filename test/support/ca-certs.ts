// Plug-in CA material for tests, made with the openssl CLI as an operator would make Istio's
// `cacerts`: a root, and an intermediate CA signed by it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PluginCa {
  rootCert: string;
  rootKey: string;
  caCert: string;
  caKey: string;
  /** ca-cert.pem followed by root-cert.pem, as Istio's cert-chain.pem. */
  certChain: string;
}

/** A root and an intermediate CA (`rsa`: RSA 2048 keys, else EC P-256); `reuseRoot`: a new intermediate under that root. */
export function makePluginCa(opts: { rsa?: boolean; rootSubject?: string; intermediateDays?: number; reuseRoot?: Pick<PluginCa, 'rootCert' | 'rootKey'> } = {}): PluginCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-ca-'));
  const p = (f: string): string => path.join(dir, f);
  const ssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const newKey = opts.rsa ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  if (opts.reuseRoot) {
    fs.writeFileSync(p('root.crt'), opts.reuseRoot.rootCert);
    fs.writeFileSync(p('root.key'), opts.reuseRoot.rootKey);
  } else ssl(['req', '-x509', ...newKey, '-nodes', '-keyout', p('root.key'), '-out', p('root.crt'), '-days', '30', '-subj', opts.rootSubject ?? '/O=Test Org/CN=Test Root CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash']);
  ssl(['req', '-new', ...newKey, '-nodes', '-keyout', p('ca.key'), '-out', p('ca.csr'), '-subj', '/O=Test Org/CN=Intermediate CA cluster1']);
  fs.writeFileSync(p('ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  ssl(['x509', '-req', '-in', p('ca.csr'), '-CA', p('root.crt'), '-CAkey', p('root.key'), '-CAcreateserial', '-days', String(opts.intermediateDays ?? 20), '-sha256', '-extfile', p('ext'), '-out', p('ca.crt')]);
  const read = (f: string): string => fs.readFileSync(p(f), 'utf8');
  const ca = { rootCert: read('root.crt'), rootKey: read('root.key'), caCert: read('ca.crt'), caKey: read('ca.key') };
  fs.rmSync(dir, { recursive: true, force: true });
  return { ...ca, certChain: ca.caCert + ca.rootCert };
}

/** `openssl verify` of a leaf against a root with the given intermediates; the tool's output. */
export function opensslVerify(leaf: string, root: string, intermediates: string[], purpose = 'sslclient'): { ok: boolean; output: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-verify-'));
  const p = (f: string): string => path.join(dir, f);
  fs.writeFileSync(p('leaf.pem'), leaf);
  fs.writeFileSync(p('root.pem'), root);
  fs.writeFileSync(p('chain.pem'), intermediates.join('') || '');
  const args = ['verify', '-purpose', purpose, '-CAfile', p('root.pem'), ...(intermediates.length ? ['-untrusted', p('chain.pem')] : []), p('leaf.pem')];
  try {
    const output = execFileSync('openssl', args, { stdio: 'pipe' }).toString();
    return { ok: true, output };
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    return { ok: false, output: `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
