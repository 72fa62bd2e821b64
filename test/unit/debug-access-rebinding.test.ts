// The debug pages trust a loopback caller (the pod itself, a kubectl port-forward), but only one
// that addresses the control plane by IP or localhost: a browser page of another site can reach
// a port-forward through a DNS name it controls (DNS rebinding), and it names that name.
import type { IncomingMessage } from 'node:http';
import { addressedByIp, debugAccess } from '../../src/kube/debug-access.js';

const refuseRest = { post: () => Promise.reject(new Error('no API server in this test')) };
const request = (remoteAddress: string, host: string | undefined): IncomingMessage => ({ socket: { remoteAddress }, headers: host === undefined ? {} : { host } }) as unknown as IncomingMessage;

test.each([
  ['127.0.0.1:15014', true],
  ['localhost:15014', true],
  ['localhost', true],
  ['[::1]:15014', true],
  ['10.96.0.10:15014', true],
  ['evil.example.com:15014', false],
  ['127.0.0.1.nip.io:15014', false],
])('Host %s names an address: %s', (host, want) => {
  expect(addressedByIp(host)).toBe(want);
});

test('a loopback caller naming a DNS host is refused; naming 127.0.0.1 it is let in', async () => {
  const access = debugAccess(refuseRest, { namespace: 'trellis-system', service: 'trellis' });
  expect(await access(request('127.0.0.1', 'rebound.attacker.example:15014'))).toEqual({ allowed: false, reason: 'a loopback caller must address the control plane by IP or localhost, not "rebound.attacker.example:15014"' });
  expect(await access(request('127.0.0.1', '127.0.0.1:15014'))).toEqual({ allowed: true, reason: 'loopback' });
  expect(await access(request('::ffff:127.0.0.1', 'localhost:15014'))).toEqual({ allowed: true, reason: 'loopback' });
});
