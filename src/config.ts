import { parseArgs } from 'node:util';

/** Command-line options of the control plane; every one has an environment variable too. */
export interface ControlPlaneConfig {
  monitoringHost: string;
  monitoringPort: number;
  kubeconfig: string | undefined;
  logLevel: string;
}

export const USAGE = `trellis: service mesh control plane (a drop-in for istiod's networking API)

Usage: trellis [options]

Options:
  --monitoring-address HOST:PORT  serve /metrics, /ready and /healthz here
                                  (env TRELLIS_MONITORING_ADDRESS, default 0.0.0.0:15014)
  --kubeconfig PATH               kubeconfig to use; in a pod the service account is used
                                  (env KUBECONFIG)
  --log-level LEVEL               error, warn, info or debug (env TRELLIS_LOG_LEVEL, default info)
  -h, --help                      print this help

Logs are JSON lines unless stdout is a terminal or TRELLIS_LOG_FORMAT=text.
SIGTERM and SIGINT stop the process cleanly.
`;

export class UsageError extends Error {}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ControlPlaneConfig | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        'monitoring-address': { type: 'string' },
        kubeconfig: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const address = v['monitoring-address'] ?? env.TRELLIS_MONITORING_ADDRESS ?? '0.0.0.0:15014';
  const sep = address.lastIndexOf(':');
  const port = Number(address.slice(sep + 1));
  if (sep <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--monitoring-address: want HOST:PORT with a port 0-65535, got "${address}"`);
  }
  const logLevel = v['log-level'] ?? env.TRELLIS_LOG_LEVEL ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) {
    throw new UsageError(`--log-level: want error, warn, info or debug, got "${logLevel}"`);
  }
  return {
    monitoringHost: address.slice(0, sep).replace(/^\[(.*)\]$/, '$1'),
    monitoringPort: port,
    kubeconfig: v.kubeconfig ?? env.KUBECONFIG,
    logLevel,
  };
}
