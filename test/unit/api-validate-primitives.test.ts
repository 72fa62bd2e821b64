// The value checks the validators share: Istio's duration format, RE2 regexes, host names.
import { durationProblem, hostProblem, isIPOrCIDR, parseDurationNs, regexProblem } from '../../src/api/validate-primitives.js';

describe('durations in Istio format', () => {
  test.each([
    ['1s', 1_000_000_000n],
    ['0.5s', 500_000_000n],
    ['100ms', 100_000_000n],
    ['1m', 60_000_000_000n],
    ['1h', 3_600_000_000_000n],
    ['1h30m', 5_400_000_000_000n],
    ['1.5h', 5_400_000_000_000n],
    ['250us', 250_000n],
    ['0', 0n],
    ['-1s', -1_000_000_000n],
  ])('%s parses', (text, ns) => {
    expect(parseDurationNs(text)).toBe(ns);
  });

  test.each(['', '10', '1d', '10sec', '1 h', 's', '.s', '1.2.3s', 'ms1'])('%j is not a duration', (text) => {
    expect(parseDurationNs(text)).toBeUndefined();
  });

  test('rules: at least 1ms, millisecond precision, or zero allowed where Istio allows it', () => {
    expect(durationProblem('1ms')).toBeUndefined();
    expect(durationProblem('0s')).toBe('must be at least 1ms, got "0s"');
    expect(durationProblem('0s', { min: '0' })).toBeUndefined();
    expect(durationProblem('-5s', { min: '0' })).toBe('must not be negative, got "-5s"');
    expect(durationProblem('1500us')).toBe('must be a whole number of milliseconds, got "1500us"');
    expect(durationProblem('1500ms', { min: '1ms', precision: 's' })).toBe('must be a whole number of seconds, got "1500ms"');
    expect(durationProblem(5)).toBe('must be a duration string such as 1s, got 5');
  });
});

describe('regexes are checked with RE2, not JavaScript', () => {
  test.each(['^/api/v[0-9]+/.*$', '(?i)^jason$', '\\d{3}', '^/service/([^/]+)(/.*)$', '[[:alpha:]]+', '(?P<name>x)'])(
    '%s compiles',
    (re) => {
      expect(regexProblem(re)).toBeUndefined();
    },
  );

  test.each([
    ['(?=x)', 'invalid or unsupported Perl syntax: `(?=`'],
    ['(?!x)', 'invalid or unsupported Perl syntax: `(?!`'],
    ['(a)\\1', 'invalid escape sequence: `\\1`'],
    ['a*+', 'invalid nested repetition operator: `*+`'],
    ['(?>x)', 'invalid or unsupported Perl syntax: `(?>`'],
    ['x{2,1}', 'invalid repeat count: `{2,1}`'],
  ])('%s is rejected although JavaScript may accept it', (re, why) => {
    expect(regexProblem(re)).toBe(`invalid RE2 regex ${JSON.stringify(re)}: ${why}`);
  });
});

describe('hosts', () => {
  test.each(['reviews', 'reviews.default.svc.cluster.local', '*', '*.example.com', '*-api.example.com', 'istio.io.', 'A.Example.COM'])(
    '%s is a valid host with wildcards allowed',
    (host) => {
      expect(hostProblem(host, { wildcard: true })).toBeUndefined();
    },
  );

  test.each(['', 'a..b', '-a.com', 'a-.com', 'a_b.com', 'foo.*.com', '*.*.com', 'a.com:80', '1.2.3.4', `${'a'.repeat(64)}.com`])(
    '%j is not a valid host',
    (host) => {
      expect(hostProblem(host, { wildcard: true })).toBeDefined();
    },
  );

  test('wildcards can be refused', () => {
    expect(hostProblem('*.example.com', { wildcard: false })).toBe('invalid host "*.example.com": wildcards are not allowed here');
  });

  test.each([
    ['10.0.0.1', true],
    ['10.0.0.0/8', true],
    ['2001:db8::/32', true],
    ['::1', true],
    ['10.0.0.300', false],
    ['10.0.0.0/33', false],
    ['2001:db8::/129', false],
    ['10.0.0.0/', false],
    ['example.com', false],
  ])('%s is an IP or CIDR: %s', (value, ok) => {
    expect(isIPOrCIDR(value)).toBe(ok);
  });
});
