import { type DestinationStream, type Logger, pino } from 'pino';
import type { AccessLog, RequestLine } from '../src/access-log.ts';
import type { LogLevel } from '../src/config.ts';

/** Log lines are written in batches of this many bytes at most (a quarter of a pipe's buffer)... */
const BATCH_BYTES = 16_384;
/** ...and never wait longer than this to reach stdout. */
const BATCH_MAX_DELAY_MS = 200;

/** The base fields of every line. */
const SERVICE = 'tokenplace-relay';

export interface RelayLog {
  logger: Logger;
  /** Request lines, written to the logger's destination in the logger's own format. */
  accessLog: AccessLog;
  /** Writes out buffered lines; call before process.exit. */
  flushSync(): void;
}

/**
 * pino's isoTime. The date and time up to the second are formatted once a second, the
 * milliseconds appended: Date#toISOString costs about as much as the rest of a request line.
 */
function cachedIsoTime(): () => string {
  let second = -1;
  let prefix = '';
  let at = -1;
  let formatted = '';
  return () => {
    const now = Date.now();
    if (now === at) return formatted;
    at = now;
    const ms = now % 1000;
    if (now - ms !== second) {
      second = now - ms;
      prefix = `,"time":"${new Date(second).toISOString().slice(0, 20)}`;
    }
    formatted = `${prefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
    return formatted;
  };
}

/**
 * Hands lines to sonic-boom BATCH_BYTES at a time. sonic-boom batches by itself too, but then
 * it measures the byte length of its whole pending buffer on every line.
 */
function batched(out: ReturnType<typeof pino.destination>): DestinationStream & { flush(): void; flushSync(): void } {
  let lines: string[] = [];
  let size = 0;
  const drain = () => {
    if (lines.length === 0) return;
    const batch = lines.join('');
    lines = [];
    size = 0;
    out.write(batch);
  };
  return {
    write(line: string) {
      lines.push(line);
      size += line.length;
      if (size >= BATCH_BYTES) drain();
    },
    flush() {
      drain();
      out.flush();
    },
    flushSync() {
      drain();
      out.flushSync();
    },
  };
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
  const stream = destination ?? batched(pino.destination({ fd: 1, sync: true }));
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
  const time = cachedIsoTime();
  const logger = pino(
    {
      level,
      base: { service: SERVICE },
      timestamp: time,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  return {
    logger,
    accessLog: requestLines(logger, stream, time),
    flushSync() {
      try {
        flushable.flushSync?.();
      } catch {
        // Nothing more can be done for log lines that cannot be written at exit.
      }
    },
  };
}

const json = JSON.stringify;

/**
 * Request lines as pino would write them (level, time, service, the fields, msg), serialized
 * field by field: pino walks and type-checks every key of every object it logs, which made the
 * request line the largest single cost of a small proxied request.
 */
function requestLines(logger: Logger, stream: DestinationStream, time: () => string): AccessLog {
  return {
    enabled: (level) => logger.isLevelEnabled(level),
    write(level, line: RequestLine) {
      if (!logger.isLevelEnabled(level)) return;
      let out = `{"level":"${level}"${time()},"service":"${SERVICE}","method":${json(line.method)},"route":"${line.route}","path":${json(line.path)},"query":${json(line.query)},"status":${line.status},"durationMs":${line.durationMs}`;
      if (line.requestId !== undefined) out += `,"requestId":${json(line.requestId)}`;
      if (line.upstream !== undefined) out += `,"upstream":${json(line.upstream)}`;
      if (line.upstreamStatus !== undefined) out += `,"upstreamStatus":${line.upstreamStatus}`;
      if (line.bytes !== undefined) out += `,"bytes":${line.bytes}`;
      if (line.error !== undefined) out += `,"error":${json(line.error)}`;
      stream.write(`${out},"msg":"request"}\n`);
    },
  };
}
