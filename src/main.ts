#!/usr/bin/env node
// Composition root: parse options, wire the stages, handle signals. Nothing else lives here.
import { USAGE, UsageError, parseConfig } from './config.js';
import { loggerFor, setLogLevel } from './util/logger.js';
import { registry } from './util/metrics.js';
import { startMonitoring } from './util/monitoring.js';

const log = loggerFor('main');

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`trellis: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  setLogLevel(config.logLevel);

  let ready = false;
  const monitoring = await startMonitoring({
    host: config.monitoringHost,
    port: config.monitoringPort,
    registry,
    isReady: () => ready,
    log: loggerFor('monitoring'),
  });
  ready = true;
  log.info('trellis started');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    ready = false;
    log.info('stopping', { signal });
    monitoring
      .close()
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error('stop failed', { error: String(err) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  log.error('fatal', { error: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
