// The xDS server's metrics, on the process registry (served on 15014 /metrics).
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../util/metrics.js';

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const connectedProxies = new Gauge({
  name: 'trellis_xds_connected_proxies',
  help: 'Proxies with at least one open xDS stream.',
  registers: [registry],
});

export const openStreams = new Gauge({
  name: 'trellis_xds_streams',
  help: 'Open xDS streams, by service (ads, cds, lds, rds, eds, sds) and protocol (sotw, delta).',
  labelNames: ['service', 'protocol'] as const,
  registers: [registry],
});

export const pushes = new Counter({
  name: 'trellis_xds_pushes_total',
  help: 'xDS responses sent, by resource type and the reason of the push that caused them.',
  labelNames: ['type', 'reason'] as const,
  registers: [registry],
});

export const pushDuration = new Histogram({
  name: 'trellis_xds_push_duration_seconds',
  help: 'Time for a push to re-evaluate the affected proxies and write their responses.',
  labelNames: ['reason'] as const,
  buckets: latencyBuckets,
  registers: [registry],
});

export const convergence = new Histogram({
  name: 'trellis_xds_convergence_seconds',
  help: 'Time from a push starting until the proxy ACKs the response that carried it.',
  labelNames: ['type'] as const,
  buckets: latencyBuckets,
  registers: [registry],
});

export const nacks = new Counter({
  name: 'trellis_xds_nacks_total',
  help: 'Responses a proxy rejected (NACK: a request with error_detail), by resource type.',
  labelNames: ['type'] as const,
  registers: [registry],
});

export const bytesSent = new Counter({
  name: 'trellis_xds_bytes_sent_total',
  help: 'Bytes of xDS responses written, by resource type.',
  labelNames: ['type'] as const,
  registers: [registry],
});

export const encodeBytes = new Counter({
  name: 'trellis_xds_encoded_bytes_total',
  help: 'Bytes of resources serialised (each distinct content once, then shared), by resource type.',
  labelNames: ['type'] as const,
  registers: [registry],
});

export const snapshotErrors = new Counter({
  name: 'trellis_xds_snapshot_errors_total',
  help: 'Failures computing or encoding a proxy snapshot; the proxy keeps its previous configuration.',
  registers: [registry],
});
