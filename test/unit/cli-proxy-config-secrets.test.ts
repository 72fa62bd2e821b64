// `trellisctl proxy-config secrets`: the SDS Secrets a proxy holds, by name, what each is (a
// certificate with its key, or the CA that verifies peers) and when it expires; never a key.
// Read from the control plane's dump and from an Envoy admin /config_dump alike.
import type { ConfigDump } from '../../src/cli/control-plane.js';
import { proxyConfigJson, proxyConfigTable, resourcesOf } from '../../src/cli/proxy-config.js';
import { configDump } from '../../src/xds/config-dump.js';
import { goldenSnapshot, loadGoldenCase } from '../support/golden-cases.js';

// The ingress gateway of the golden case: bookinfo-cert (SIMPLE) and api-cert with its CA (MUTUAL).
const gateway = loadGoldenCase('gateway-https-bound-virtualservices');
const dump: ConfigDump = { id: gateway.proxy.id, resources: configDump(goldenSnapshot(gateway)) };

const rows = (d: ConfigDump): string[][] =>
  proxyConfigTable('secrets', resourcesOf(d, 'secrets'))
    .trim()
    .split('\n')
    .map((l) => l.split(/\s{2,}/));

test('one row per Secret: certificate chains and CAs, with their expiry, sorted by name', () => {
  expect(rows(dump)).toEqual([
    ['NAME', 'TYPE', 'NOT AFTER'],
    ['kubernetes://api-cert', 'Cert Chain', '2126-11-08T05:37:51.000Z'],
    ['kubernetes://api-cert-cacert', 'CA', '2126-11-08T05:37:51.000Z'],
    ['kubernetes://bookinfo-cert', 'Cert Chain', '2126-11-08T05:37:51.000Z'],
  ]);
});

test('-o json shows the certificates and redacts every private key', () => {
  const json = JSON.parse(proxyConfigJson(dump, 'secrets')) as Array<{ name: string; tls_certificate?: { private_key: unknown } }>;
  expect(json.map((s) => s.name)).toEqual(['kubernetes://bookinfo-cert', 'kubernetes://api-cert', 'kubernetes://api-cert-cacert']);
  for (const s of json.filter((x) => x.tls_certificate)) expect(s.tls_certificate?.private_key).toBe('[redacted]');
  for (const key of ['placeholder private key of api.example.com', 'placeholder private key of bookinfo.example.com']) {
    expect(proxyConfigJson(dump, 'secrets')).not.toContain(Buffer.from(key).toString('base64'));
    expect(proxyConfigJson(dump, 'secrets')).not.toContain(key);
  }
});

test("an Envoy admin dump's SecretsConfigDump reads the same", () => {
  const secrets = resourcesOf(dump, 'secrets');
  const envoy: ConfigDump = {
    configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump', dynamic_active_secrets: secrets.map((s) => ({ name: s.name, version_info: '1', secret: s })) }],
  };
  expect(rows(envoy)).toEqual(rows(dump));
});

test('a CA Secret without certificates (no ca.crt) says peers go unverified; bytes that are no certificate show no expiry', () => {
  const d: ConfigDump = { id: 'x', resources: { sds: { a: { name: 'kubernetes://x-cacert', validation_context: {} }, b: { name: 'kubernetes://y', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('junk').toString('base64') } } } } } };
  expect(rows(d).slice(1)).toEqual([
    ['kubernetes://x-cacert', 'CA (none: peers not verified)', '-'],
    ['kubernetes://y', 'Cert Chain', '-'],
  ]);
});
