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

/** Room for a batch and the line that completes it; a longer line is written on its own. */
const BATCH_CAPACITY = 4 * BATCH_BYTES;

/**
 * Encodes lines into a buffer and hands it to sonic-boom (in buffer mode) BATCH_BYTES at a time.
 * Each line is encoded once, straight into the batch: sonic-boom given strings measures their
 * UTF-8 length before the write and again after it, besides encoding them.
 */
function batched(out: ReturnType<typeof pino.destination>): DestinationStream & { flush(): void; flushSync(): void } {
  // sonic-boom's types know only its string mode.
  const writeBytes = (bytes: Buffer) => (out as unknown as { write(bytes: Buffer): boolean }).write(bytes);
  const batch = Buffer.allocUnsafe(BATCH_CAPACITY);
  let used = 0;
  const drain = () => {
    if (used === 0) return;
    // A copy: sonic-boom keeps what a failed write left, and the batch buffer is refilled at once.
    const full = Buffer.from(batch.subarray(0, used));
    used = 0;
    writeBytes(full);
  };
  return {
    write(line: string) {
      // A UTF-16 code unit takes at most three bytes in UTF-8.
      if (used + line.length * 3 > BATCH_CAPACITY) {
        drain();
        if (line.length * 3 > BATCH_CAPACITY) {
          writeBytes(Buffer.from(line, 'utf8'));
          return;
        }
      }
      used += batch.write(line, used);
      if (used >= BATCH_BYTES) drain();
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
  const stream = destination ?? batched(pino.destination({ fd: 1, sync: true, contentMode: 'buffer' }));
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

/** Characters JSON.stringify escapes in a string (lone surrogates among them). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what JSON escapes.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON.stringify writes it; most need no escaping, and are then spared its call into the runtime. */
function quoted(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * A duration in milliseconds with at most two decimals (what the core records) as JavaScript
 * prints it, from integers: printing the double itself is the costliest step of a request line.
 */
export function formatMilliseconds(value: number): string {
  const hundredths = Math.round(value * 100);
  if (!(hundredths >= 0 && hundredths < 1e13 && hundredths / 100 === value)) return `${value}`;
  const fraction = hundredths % 100;
  const whole = (hundredths - fraction) / 100;
  if (fraction === 0) return `${whole}`;
  if (fraction % 10 === 0) return `${whole}.${fraction / 10}`;
  return `${whole}.${fraction < 10 ? '0' : ''}${fraction}`;
}

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
      let out = `{"level":"${level}"${time()},"service":"${SERVICE}","method":${quoted(line.method)},"route":"${line.route}","path":${quoted(line.path)},"query":${quoted(line.query)},"status":${line.status},"durationMs":${formatMilliseconds(line.durationMs)}`;
      if (line.requestId !== undefined) out += `,"requestId":${quoted(line.requestId)}`;
      if (line.upstream !== undefined) out += `,"upstream":${quoted(line.upstream)}`;
      if (line.upstreamStatus !== undefined) out += `,"upstreamStatus":${line.upstreamStatus}`;
      if (line.bytes !== undefined) out += `,"bytes":${line.bytes}`;
      if (line.error !== undefined) out += `,"error":${quoted(line.error)}`;
      stream.write(`${out},"msg":"request"}\n`);
    },
  };
}
