import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from '../src/config.ts';

/** Header and field names whose values are secrets wherever they appear in a log object. */
const REDACTED_PATHS = [
  'authorization',
  'cookie',
  'x-relay-server-token',
  '*.authorization',
  '*.cookie',
  '*["set-cookie"]',
  '*["x-relay-server-token"]',
  'serverToken',
  '*.serverToken',
];

export interface RelayLog {
  logger: Logger;
  /** Writes out buffered lines; call before process.exit. */
  flushSync(): void;
}

export function createLogger(level: LogLevel, destination?: DestinationStream): RelayLog {
  // Asynchronous writes keep logging off the request path; flushSync drains them on exit.
  const stream = destination ?? pino.destination({ fd: 1, sync: false });
  const logger = pino(
    {
      level,
      base: { service: 'tokenplace-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '***' },
    },
    stream,
  );
  const flushable = stream as DestinationStream & { flushSync?: () => void };
  return {
    logger,
    flushSync() {
      try {
        flushable.flushSync?.();
      } catch {
        // Nothing more can be done for log lines that cannot be written at exit.
      }
    },
  };
}
