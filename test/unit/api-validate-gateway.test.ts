// Gateway validation: Istio's rules for server hosts, unix-socket binds and TLS certificate
// sources, each broken rule named by field path.
import { validationErrors } from '../../src/api/validate.js';

const check = (spec: unknown): string[] => validationErrors('Gateway', 'default', 'gw', spec).map((e) => `${e.path}: ${e.message}`);
const http = (server: Record<string, unknown>): unknown => ({ servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['foo.bar.com'], ...server }] });
const https = (tls: Record<string, unknown>): unknown => ({
  servers: [{ port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['foo.bar.com'], tls }],
});

describe('Gateway server hosts', () => {
  test('fully qualified names, "*", wildcard prefixes, IPs and namespace/host forms are valid', () => {
    for (const host of ['foo.bar.com', '*', '*.bar.com', '10.0.0.1', 'ns1/foo.bar.com', '*/foo.bar.com', './*', 'prod/*.example.com']) {
      expect({ host, errors: check(http({ hosts: [host] })) }).toEqual({ host, errors: [] });
    }
  });

  test('a short name is rejected: a Gateway host must be fully qualified', () => {
    expect(check(http({ hosts: ['foo'] }))).toEqual([
      'spec.servers[0].hosts[0]: invalid host "foo": short names are not allowed; use a fully qualified name such as foo.example.com, or "*"',
    ]);
    expect(check(http({ hosts: ['ns1/foo'] }))).toHaveLength(1);
  });

  test('a partial wildcard is rejected', () => {
    expect(check(http({ hosts: ['*bar.com'] }))).toEqual([
      'spec.servers[0].hosts[0]: invalid host "*bar.com": a wildcard must be the whole first label, e.g. *.example.com, not "*bar.com"',
    ]);
    expect(check(http({ hosts: ['ns1/*-bar.com'] }))).toHaveLength(1);
  });

  test('"~" is not a namespace a user may write, nor an empty namespace or host', () => {
    expect(check(http({ hosts: ['~/foo.bar.com'] }))).toEqual([
      'spec.servers[0].hosts[0]: invalid namespace "~" in host "~/foo.bar.com": use "*", "." or a namespace name',
    ]);
    expect(check(http({ hosts: ['/foo.bar.com'] }))).toEqual([
      'spec.servers[0].hosts[0]: invalid host "/foo.bar.com": neither the namespace nor the host after "/" may be empty',
    ]);
    expect(check(http({ hosts: ['ns1/'] }))).toHaveLength(1);
  });
});

describe('Gateway server bind and port', () => {
  test('a unix socket bind takes port number 0, and an absolute path or an abstract name', () => {
    const uds = (bind: string, number?: number) => check({ servers: [{ port: { name: 'http', protocol: 'HTTP', ...(number === undefined ? {} : { number }) }, hosts: ['foo.bar.com'], bind }] });
    expect(uds('unix://@foobar', 0)).toEqual([]);
    expect(uds('unix:///var/run/gw.sock', 0)).toEqual([]);
    // The field itself stays required, as in Istio's CRD (the API server rejects it missing).
    expect(uds('unix://@foobar')).toEqual(['spec.servers[0].port.number: required']);
    expect(uds('unix://@foobar', 7)).toEqual(['spec.servers[0].port.number: must be 0 or unset when bind is a unix:// socket, got 7']);
    expect(uds('unix://./relative.sock', 0)).toEqual([
      'spec.servers[0].bind: unix socket path "./relative.sock" must be an absolute path to a file (or @name for an abstract socket)',
    ]);
    expect(uds('unix:///var/run/', 0)).toHaveLength(1);
    expect(uds('unix://', 0)).toEqual(['spec.servers[0].bind: unix:// needs a socket path, e.g. unix:///var/run/gateway.sock']);
  });

  test('without a unix socket bind the port number is still required', () => {
    expect(check({ servers: [{ port: { name: 'http', protocol: 'HTTP' }, hosts: ['foo.bar.com'] }] })).toEqual([
      'spec.servers[0].port.number: must be between 1 and 65535, got 0',
    ]);
  });

  test('targetPort has no effect on a Gateway and is rejected', () => {
    expect(check({ servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }, hosts: ['foo.bar.com'] }] })).toEqual([
      'spec.servers[0].port.targetPort: has no effect on a Gateway server; remove it',
    ]);
  });

  test('TLS settings on a port that is neither HTTP nor HTTPS/TLS are rejected', () => {
    expect(check({ servers: [{ port: { number: 5432, name: 'tcp', protocol: 'TCP' }, hosts: ['foo.bar.com'], tls: { mode: 'SIMPLE', credentialName: 'c' } }] })).toEqual([
      'spec.servers[0].tls: not allowed for protocol TCP; use protocol HTTPS or TLS to serve TLS',
    ]);
    expect(check(http({ tls: { httpsRedirect: true } }))).toEqual([]);
  });
});

describe('Gateway TLS certificate sources', () => {
  const files = { serverCertificate: '/etc/certs/cert.pem', privateKey: '/etc/certs/key.pem' };
  const pair = { serverCertificate: '/etc/certs/cert.pem', privateKey: '/etc/certs/key.pem' };

  test('one source is valid: a credential, credentials, a certificate file pair, or tlsCertificates', () => {
    expect(check(https({ mode: 'SIMPLE', credentialName: 'c' }))).toEqual([]);
    expect(check(https({ mode: 'SIMPLE', credentialNames: ['rsa', 'ecdsa'] }))).toEqual([]);
    expect(check(https({ mode: 'SIMPLE', ...files }))).toEqual([]);
    expect(check(https({ mode: 'SIMPLE', tlsCertificates: [pair, pair, pair] }))).toEqual([]);
    expect(check(https({ mode: 'MUTUAL', caCertificates: '/etc/certs/ca.pem', tlsCertificates: [pair, pair] }))).toEqual([]);
    // A client CA bundle beside a credential is not a second server certificate.
    expect(check(https({ mode: 'MUTUAL', credentialName: 'c', caCertificates: '/etc/certs/ca.pem' }))).toEqual([]);
  });

  test('more than one source is rejected, naming the sources found', () => {
    const message = (got: string) =>
      `spec.servers[0].tls: set only one certificate source (credentialName, credentialNames, serverCertificate with privateKey, or tlsCertificates), got ${got}`;
    expect(check(https({ mode: 'SIMPLE', credentialName: 'c', ...files }))).toEqual([message('serverCertificate/privateKey and credentialName')]);
    expect(check(https({ mode: 'MUTUAL', credentialNames: ['c'], ...files }))).toEqual([message('serverCertificate/privateKey and credentialNames')]);
    expect(check(https({ mode: 'MUTUAL', credentialNames: ['c'], tlsCertificates: [pair] }))).toEqual([message('credentialNames and tlsCertificates')]);
    expect(check(https({ mode: 'MUTUAL', credentialName: 'c', caCertificates: 'ca', tlsCertificates: [pair] }))).toEqual([message('credentialName and tlsCertificates')]);
    expect(check(https({ mode: 'SIMPLE', ...files, tlsCertificates: [pair] }))).toEqual([message('serverCertificate/privateKey and tlsCertificates')]);
    expect(check(https({ mode: 'SIMPLE', credentialName: 'a', credentialNames: ['b'] }))).toEqual([message('credentialName and credentialNames')]);
  });

  test('a lone certificate without its key is not a source, so it does not conflict but is incomplete', () => {
    expect(check(https({ mode: 'SIMPLE', credentialName: 'c', serverCertificate: '/etc/certs/cert.pem' }))).toEqual([]);
    expect(check(https({ mode: 'SIMPLE', serverCertificate: '/etc/certs/cert.pem' }))).toEqual([
      'spec.servers[0].tls: mode SIMPLE requires credentialName, or serverCertificate and privateKey',
    ]);
  });

  test('mutual TLS from files still needs the client CA bundle, and every tlsCertificates entry a certificate and key', () => {
    expect(check(https({ mode: 'MUTUAL', tlsCertificates: [pair, pair] }))).toEqual([
      'spec.servers[0].tls: mode MUTUAL requires caCertificates when credentialName is not set',
    ]);
    expect(check(https({ mode: 'SIMPLE', tlsCertificates: [pair, { privateKey: 'k' }] }))).toEqual([
      'spec.servers[0].tls.tlsCertificates[1]: serverCertificate and privateKey are required',
    ]);
  });
});
