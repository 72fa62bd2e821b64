// Prometheus's text exposition format, as a scrape returns it: the samples (comments and TYPE
// lines skipped), for tests that check counts a dashboard would read. The parser is the control
// plane's own (src/util/prometheus-text.ts, which the mesh page's service graph reads scrapes
// with); this name stays for the tests that use it.
export { parsePrometheusText as parsePrometheus, type Sample } from '../../src/util/prometheus-text.js';
