import type { HeaderRecord } from './headers.ts';
import type { UpstreamTarget } from './target.ts';

/**
 * The relay core talks to the GPU host through this interface only, so the transport
 * (undici on Node, anything else elsewhere) is chosen by the runtime that hosts the handler.
 */
export interface UpstreamRequest {
  target: UpstreamTarget;
  method: string;
  headers: HeaderRecord;
  /** Streamed to the upstream as it is read, or whole when it was read before admission; null when there is none. */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /**
   * Aborted when the client goes away. The upstream exchange is not cut then: the GPU host is
   * still working, so its answer is read and discarded (bounded by the upstream timeouts).
   */
  signal: AbortSignal;
  /** Called when the client has gone and the exchange goes on without it (an orphaned slot). */
  onOrphaned?: () => void;
}

export interface BodyOutcome {
  /** Bytes of the body that were delivered. */
  bytes: number;
  /** Set when the body did not complete. */
  error?: UpstreamError;
}

export interface UpstreamResponse {
  status: number;
  headers: HeaderRecord;
  /**
   * Whatever the host runtime's Response constructor accepts as a streaming body, passed through
   * untouched (never decoded). Null for HEAD, 204 and 304.
   */
  body: unknown;
  /** Settles once the body has been fully delivered, cut off or abandoned. Never rejects. */
  done: Promise<BodyOutcome>;
}

export type UpstreamClient = (request: UpstreamRequest) => Promise<UpstreamResponse>;

/**
 * connect: refused or unresolvable; timeout: connect, headers or idle gap; reset: connection broke; aborted: the client left;
 * overloaded: the relay itself could not open a socket (out of file descriptors), not the upstream's fault.
 */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'reset' | 'aborted' | 'protocol' | 'overloaded';

export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  /** No connection could be opened (refused, unreachable, connect timeout): nothing reached the upstream. */
  readonly connectFailed: boolean;
  /** The connection broke before any response byte arrived: counts against the member's health. */
  readonly resetBeforeResponse: boolean;
  /** Set when the client left before the answer but the upstream exchange goes on; settles when it ends. */
  readonly exchangeEnded: Promise<void> | undefined;
  constructor(
    kind: UpstreamErrorKind,
    message: string,
    options?: { cause?: unknown; connectFailed?: boolean; resetBeforeResponse?: boolean; exchangeEnded?: Promise<void> },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
    this.kind = kind;
    this.connectFailed = options?.connectFailed ?? kind === 'connect';
    this.resetBeforeResponse = options?.resetBeforeResponse ?? false;
    this.exchangeEnded = options?.exchangeEnded;
  }
}
