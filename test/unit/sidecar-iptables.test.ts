import { DEFAULT_CAPTURE, captureRules, parseCidrs, parsePorts } from '../../src/sidecar/iptables.js';

test('default rules capture all inbound and outbound TCP, exempting the proxy and DNS', () => {
  const rules = captureRules(DEFAULT_CAPTURE).split('\n');
  expect(rules).toContain('-A TRELLIS_INBOUND -p tcp -j TRELLIS_IN_REDIRECT');
  expect(rules).toContain('-A TRELLIS_OUTPUT -m owner --uid-owner 1337 -j RETURN');
  expect(rules).toContain('-A TRELLIS_OUTPUT -m owner --gid-owner 1337 -j RETURN');
  expect(rules).toContain('-A TRELLIS_OUTPUT -p tcp --dport 53 -j RETURN');
  expect(rules[rules.length - 3]).toBe('-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT');
  for (const p of [15001, 15006, 15020, 15021, 15090]) expect(rules).toContain(`-A TRELLIS_INBOUND -p tcp --dport ${p} -j RETURN`);
});

test('explicit inbound ports capture only those; empty outbound CIDRs capture no outbound', () => {
  const rules = captureRules({ ...DEFAULT_CAPTURE, includeInboundPorts: [8080, 15090], includeOutboundCidrs: [] });
  expect(rules).toContain('-A TRELLIS_INBOUND -p tcp --dport 8080 -j TRELLIS_IN_REDIRECT');
  expect(rules).not.toContain('--dport 15090 -j TRELLIS_IN_REDIRECT');
  expect(rules).not.toContain('-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT');
});

test('exclusions come before the catch-all', () => {
  const rules = captureRules({ ...DEFAULT_CAPTURE, excludeOutboundCidrs: ['10.96.0.0/16'], excludeOutboundPorts: [5432] });
  expect(rules.indexOf('-d 10.96.0.0/16 -j RETURN')).toBeLessThan(rules.indexOf('-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT'));
  expect(rules.indexOf('--dport 5432 -j RETURN')).toBeLessThan(rules.indexOf('-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT'));
});

test.each([
  ['*', true, '*'],
  ['', false, []],
  ['8080, 9090', false, [8080, 9090]],
])('ports %j', (v, star, want) => expect(parsePorts('x', v, star)).toEqual(want));

test.each(['0', '65536', 'http', '*'])('port %j is refused', (v) => expect(() => parsePorts('--p', v, false)).toThrow(`--p: "${v}" is not a port (1-65535)`));

test('CIDRs: a bare address is /32; bad ones are refused', () => {
  expect(parseCidrs('x', '10.0.0.0/8, 1.2.3.4', false)).toEqual(['10.0.0.0/8', '1.2.3.4/32']);
  expect(() => parseCidrs('--c', '10.0.0.0/33', false)).toThrow('--c: "10.0.0.0/33" is not an IPv4 address or CIDR');
});
