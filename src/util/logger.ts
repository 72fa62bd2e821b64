import winston from 'winston';

export type Logger = winston.Logger;

// JSON lines in production (machine-read by log collectors); readable lines on a terminal.
const root = winston.createLogger({
  level: process.env.TRELLIS_LOG_LEVEL ?? 'info',
  format:
    process.env.TRELLIS_LOG_FORMAT === 'text' || (process.env.NODE_ENV !== 'production' && process.stdout.isTTY)
      ? winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, stage, message, ...rest }) => {
            const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
            return `${String(timestamp)} ${level} [${String(stage ?? 'trellis')}] ${String(message)}${extra}`;
          }),
        )
      : winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
});

// Winston runs the format (timestamp, JSON) before its transport drops a line below the level,
// so every filtered-out debug line paid for its formatting. Drop such lines before the format:
// each stage's child logger writes through root.write.
const writeFormatted = root.write.bind(root) as (info: winston.LogEntry) => boolean;
root.write = ((info: winston.LogEntry) =>
  info.level === undefined || root.isLevelEnabled(info.level) ? writeFormatted(info) : true) as Logger['write'];

/** One logger per stage; every line it writes carries `stage: <name>`. */
export function loggerFor(stage: string): Logger {
  return root.child({ stage });
}

export function logLevel(): string {
  return root.level;
}

export function setLogLevel(level: string): void {
  root.level = level;
}
