// Throwaway certificates for tests, made with the openssl CLI.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCerts {
  dir: string;
  caCert: string;
  cert: string;
  key: string;
}

/** A CA and a serving certificate for the given SANs ("DNS:x", "IP:1.2.3.4"). */
export function makeServingCert(sans: string[], cn = 'test'): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-certs-'));
  const p = (f: string): string => path.join(dir, f);
  const ssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=test-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,digitalSignature']);
  ssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('tls.key'), '-out', p('tls.csr'), '-subj', `/CN=${cn}`]);
  fs.writeFileSync(p('ext'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${sans.join(',')}\n`);
  ssl(['x509', '-req', '-in', p('tls.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-sha256', '-extfile', p('ext'), '-out', p('tls.crt')]);
  return { dir, caCert: fs.readFileSync(p('ca.crt'), 'utf8'), cert: fs.readFileSync(p('tls.crt'), 'utf8'), key: fs.readFileSync(p('tls.key'), 'utf8') };
}
