import type { UpstreamErrorKind } from './upstream.ts';

/** Bounded route label: the relay's own routes by name, everything forwarded as "proxy". */
export type RouteLabel = 'livez' | 'healthz' | 'metrics' | 'proxy';

/** What the relay core reports; the runtime decides how it is stored and exposed. */
export interface RelayMetrics {
  requestStarted(route: RouteLabel): void;
  requestFinished(route: RouteLabel, method: string, status: number, durationSeconds: number): void;
  upstreamError(kind: UpstreamErrorKind): void;
  /** The exposition served on /metrics. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** The subset of a pino logger the core uses. */
export interface RelayLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}
