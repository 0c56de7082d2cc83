import type { RelayLogger, RouteLabel } from './observability.ts';

/** What the relay records about every request it finished: the access log's fixed set of fields. */
export interface RequestLine {
  method: string;
  route: RouteLabel;
  path: string;
  /** The query string with secrets redacted, or "". */
  query: string;
  status: number;
  durationMs: number;
  requestId?: string;
  /** The pool member that answered (its public URL), for forwarded requests. */
  upstream?: string;
  upstreamStatus?: number;
  bytes?: number;
  error?: string;
}

export type AccessLevel = 'debug' | 'info' | 'warn';

/**
 * Where request lines go. A runtime can write them faster than a general logger can (they have
 * one fixed shape); without one they go through the logger as `log[level](line, "request")`.
 */
export interface AccessLog {
  /** False when lines of this level are dropped, so the caller need not build them. */
  enabled(level: AccessLevel): boolean;
  write(level: AccessLevel, line: RequestLine): void;
}

export function accessLogVia(log: RelayLogger): AccessLog {
  return {
    enabled: () => true,
    write: (level, line) => log[level](line, 'request'),
  };
}
