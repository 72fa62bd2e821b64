import { Registry, collectDefaultMetrics } from 'prom-client';

/** The process-wide registry served on the monitoring port's /metrics. */
export const registry = new Registry();
registry.setDefaultLabels({ app: 'trellis' });
collectDefaultMetrics({ register: registry, prefix: 'trellis_' });
