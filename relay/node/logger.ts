import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from '../src/config.ts';

/** Log lines are written in batches of this many bytes at most... */
const BATCH_BYTES = 4096;
/** ...and never wait longer than this to reach stdout. */
const BATCH_MAX_DELAY_MS = 200;

export interface RelayLog {
  logger: Logger;
  /** Writes out buffered lines; call before process.exit. */
  flushSync(): void;
}

/**
 * JSON lines on stdout. Secrets are kept out by construction rather than by pino's redaction
 * (which costs a scan of every line): request lines carry only chosen fields, query strings go
 * through redactQuery, and the startup config goes through describeConfig, which masks tokens.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): RelayLog {
  // A write(2) per request line is a large share of a proxied request's cost, so lines are
  // batched; the timer bounds how late a line on a quiet relay can appear. The batch is written
  // synchronously: handing it to libuv's thread pool costs a thread wake-up per write, more
  // than the write itself.
  const stream = destination ?? pino.destination({ fd: 1, sync: true, minLength: BATCH_BYTES });
  const flushable = stream as DestinationStream & { flush?: () => void; flushSync?: () => void };
  if (destination === undefined) {
    setInterval(() => {
      try {
        flushable.flush?.();
      } catch {
        // A write in progress will be followed by the next tick.
      }
    }, BATCH_MAX_DELAY_MS).unref();
  }
  const logger = pino(
    {
      level,
      base: { service: 'tokenplace-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
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
