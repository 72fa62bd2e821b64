// Prometheus's text exposition format as the control plane reads a proxy's scrape: every sample
// with its labels (escapes undone), values in Go's float syntax, optional timestamps; comments
// skipped; a malformed line skipped and reported while the rest is read.
import { parseFloatValue, parsePrometheusText } from '../../src/util/prometheus-text.js';
import { parsePrometheus } from '../support/prometheus.js';

test('samples with labels, values and timestamps; comments, TYPE lines and blank lines skipped', () => {
  const text = [
    '# HELP envoy_cluster_upstream_rq Requests by code',
    '# TYPE envoy_cluster_upstream_rq counter',
    'envoy_cluster_upstream_rq{response_code="200",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 15',
    '',
    '   ',
    'up 1 1700000000000',
    'process_start_time_seconds{} -12.5e-1 -5',
    'envoy_cluster_upstream_rq_time_sum{a="b"} 2.1000000000000000888178419700125',
    '# EOF',
  ].join('\n');
  expect(parsePrometheusText(text)).toEqual([
    { name: 'envoy_cluster_upstream_rq', labels: { response_code: '200', cluster_name: 'outbound|9080|v1|reviews.default.svc.cluster.local' }, value: 15 },
    { name: 'up', labels: {}, value: 1, timestampMs: 1_700_000_000_000 },
    { name: 'process_start_time_seconds', labels: {}, value: -1.25, timestampMs: -5 },
    { name: 'envoy_cluster_upstream_rq_time_sum', labels: { a: 'b' }, value: 2.1 },
  ]);
});

test('+Inf, -Inf and NaN in values and in `le`; CRLF line ends', () => {
  const s = parsePrometheusText('h_bucket{le="+Inf"} +Inf\r\ng NaN\r\nn{x="1"} -Inf\r\ni inf\n');
  expect(s[0]).toEqual({ name: 'h_bucket', labels: { le: '+Inf' }, value: Infinity });
  expect(s[1].value).toBeNaN();
  expect(s[2]).toEqual({ name: 'n', labels: { x: '1' }, value: -Infinity });
  expect(s[3].value).toBe(Infinity);
  expect(parseFloatValue('+Inf')).toBe(Infinity);
  expect(parseFloatValue('1e3')).toBe(1000);
  expect(parseFloatValue('.5')).toBe(0.5);
  for (const bad of ['', ' ', 'Infinityx', '1,5', '0b1', 'abc']) expect(parseFloatValue(bad)).toBeUndefined();
});

test("label values undo the format's escapes; commas, braces and spaces inside quotes are text", () => {
  const [s] = parsePrometheusText('m{path="C:\\\\dir\\\\x",quote="say \\"hi\\"",nl="a\\nb",odd="\\d",text="a, b} c",} 3\n');
  expect(s.labels).toEqual({ path: 'C:\\dir\\x', quote: 'say "hi"', nl: 'a\nb', odd: '\\d', text: 'a, b} c' });
  expect(s.value).toBe(3);
});

test('a label named __proto__ is an ordinary label', () => {
  const [s] = parsePrometheusText('m{__proto__="x",a="1"} 1');
  expect(Object.getPrototypeOf(s.labels)).toBe(Object.prototype);
  expect(Object.keys(s.labels)).toEqual(['__proto__', 'a']);
  expect(s.labels.a).toBe('1');
});

test('malformed lines are skipped and reported, the others kept', () => {
  const errors: Array<[number, string]> = [];
  const text = ['ok 1', 'no_value', 'm{a="1" 2', 'm{a="1",a="2"} 2', 'm{a="open} 2', 'm{a=1} 2', 'm 1 2 3', 'm one', '9bad 1', 'm 1 1.5', 'ok2{b="x"} 2'].join('\n');
  const s = parsePrometheusText(text, (line, message) => errors.push([line, message]));
  expect(s.map((x) => x.name)).toEqual(['ok', 'ok2']);
  expect(errors.map(([l]) => l)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(errors[2][1]).toMatch(/label a given twice/);
  expect(errors[6][1]).toMatch(/"one" is not a number/);
});

test("the tests' helper is the same parser", () => {
  expect(parsePrometheus('a{b="c"} 1')).toEqual([{ name: 'a', labels: { b: 'c' }, value: 1 }]);
});
