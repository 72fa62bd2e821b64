// The xDS server's metrics, on the process registry (served on 15014 /metrics).
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../util/metrics.js';

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// Every metric here is on the process registry; latency histograms share the buckets.
const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers: [registry] });
const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
const latency = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Histogram<L>({ name, help, labelNames, buckets: latencyBuckets, registers: [registry] });

export const connectedProxies = gauge('trellis_xds_connected_proxies', 'Proxies with at least one open xDS stream.');
export const openStreams = gauge('trellis_xds_streams', 'Open xDS streams, by service (ads, cds, lds, rds, eds, sds) and protocol (sotw, delta).', ['service', 'protocol'] as const);
export const pushes = counter('trellis_xds_pushes_total', 'xDS responses sent, by resource type and the reason of the push that caused them.', ['type', 'reason'] as const);
export const pushDuration = latency('trellis_xds_push_duration_seconds', 'Time for a push to re-evaluate the affected proxies and write their responses.', ['reason'] as const);
export const convergence = latency('trellis_xds_convergence_seconds', 'Time from a push starting until the proxy ACKs the response that carried it.', ['type'] as const);
export const nacks = counter('trellis_xds_nacks_total', 'Responses a proxy rejected (NACK: a request with error_detail), by resource type.', ['type'] as const);
export const bytesSent = counter('trellis_xds_bytes_sent_total', 'Bytes of xDS responses written, by resource type.', ['type'] as const);
export const encodeBytes = counter('trellis_xds_encoded_bytes_total', 'Bytes of resources serialised (each distinct content once, then shared), by resource type.', ['type'] as const);
export const snapshotErrors = counter('trellis_xds_snapshot_errors_total', 'Failures computing or encoding a proxy snapshot; the proxy keeps its previous configuration.');
