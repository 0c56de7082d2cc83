import type { RejectionReason, WaitOutcome } from './admission.ts';
import type { UpstreamErrorKind } from './upstream.ts';

/**
 * Bounded route label: the relay's own routes by name (`servers` for /relay/servers, `preflight`
 * for CORS preflights it answers), everything forwarded as "proxy".
 */
export type RouteLabel = 'livez' | 'healthz' | 'metrics' | 'servers' | 'preflight' | 'proxy' | TokenPlaceRouteLabel;

/** token.place's relay API v1 routes, which the relay answers itself. */
export type TokenPlaceRouteLabel =
  | 'relay_register'
  | 'relay_poll'
  | 'relay_control'
  | 'relay_unregister'
  | 'relay_responses'
  | 'relay_progress'
  | 'relay_next'
  | 'relay_requests'
  | 'relay_cancel'
  | 'relay_retrieve'
  | 'relay_diagnostics'
  | 'relay_legacy'
  | 'relay_unknown';

/** Pool and queue state, read when metrics are scraped rather than updated per request. */
export interface AdmissionView {
  depth(): number;
  members(): readonly { id: string; inFlight: number; orphaned: number; ejectedUntil: number }[];
  now(): number;
}

/** The protocol's state as metrics read it at scrape time. */
export interface TokenPlaceView {
  nodes(): Promise<{ active: boolean; queueDepth: number; inFlight: number }[]>;
}

export interface TokenPlaceMetrics {
  observeTokenPlace(view: TokenPlaceView): void;
  relayedRequestEnded(outcome: 'completed' | 'cancelled' | 'expired', reason: string): void;
  computeNodeRemoved(reason: 'stale_lease' | 'unregistered'): void;
}

/** What the relay core reports; the runtime decides how it is stored and exposed. */
export interface RelayMetrics extends TokenPlaceMetrics {
  requestStarted(route: RouteLabel): void;
  requestFinished(route: RouteLabel, method: string, status: number, durationSeconds: number): void;
  upstreamError(kind: UpstreamErrorKind): void;
  /** Registers the pool and queue whose depth and per-member in-flight counts are exported. */
  observeAdmission(view: AdmissionView): void;
  /** A request left the queue: admitted, timed out, or its client went away. */
  queueWaited(seconds: number, outcome: WaitOutcome): void;
  admissionRejected(reason: Exclude<RejectionReason, 'client_closed'>): void;
  /** A pool member was ejected after consecutive failures (refused, TLS, reset before answering). */
  upstreamEjected(member: 'static' | 'registered'): void;
  /** The runtime refused a client connection because the connection cap was reached. */
  connectionRefused(): void;
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
