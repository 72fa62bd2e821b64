// The node agent's log: plain timestamped lines into .devcluster/logs/node.log (via stdout).
export interface Log {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export function makeLog(verbose: boolean): Log {
  const line = (level: string, msg: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${level} ${msg}\n`);
  };
  return {
    info: (m) => line('info', m),
    warn: (m) => line('warn', m),
    debug: (m) => (verbose ? line('debug', m) : undefined),
  };
}
