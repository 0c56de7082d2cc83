import { Readable } from 'node:stream';
import { Agent, type Dispatcher, errors } from 'undici';
import type { HeaderRecord } from '../src/headers.ts';
import {
  type BodyOutcome,
  type UpstreamClient,
  UpstreamError,
  type UpstreamErrorKind,
  type UpstreamRequest,
  type UpstreamResponse,
} from '../src/upstream.ts';
import { FORBIDDEN_ADDRESS, guardedLookup } from './guarded-lookup.ts';

export interface UndiciUpstreamOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** Longest silence between two body chunks from the upstream. */
  idleTimeoutMs: number;
}

const CONNECT_CODES = new Set([
  FORBIDDEN_ADDRESS,
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);

/** The TLS handshake failed (wrong protocol, bad certificate): like a refused connection, nothing reached the host. */
function isTlsFailure(code: string, message: string): boolean {
  return (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code.includes('CERT') ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    message.includes('before secure TLS connection was established')
  );
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown })?.cause;
  return cause && cause !== err ? errorCode(cause) : undefined;
}

/** undici's parser errors often carry no code (it looks the numeric llhttp error up in a name-to-number table), so they are recognised by class. */
function isParserError(err: unknown): boolean {
  if (err instanceof errors.HTTPParserError) return true;
  const cause = (err as { cause?: unknown })?.cause;
  return cause !== undefined && cause !== err && isParserError(cause);
}

/** beforeResponse: no response byte had arrived (a reset then says the host is broken, not that an answer was cut). */
export function classifyUndiciError(err: unknown, aborted: boolean, beforeResponse = false): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = errorCode(err) ?? '';
  const message = err instanceof Error ? err.message : String(err);
  let kind: UpstreamErrorKind;
  if (aborted || code === 'UND_ERR_ABORTED' || code === 'UND_ERR_ABORT' || code === 'ABORT_ERR') kind = 'aborted';
  else if (CONNECT_CODES.has(code) || isTlsFailure(code, message)) kind = 'connect';
  else if (code === 'EMFILE' || code === 'ENFILE') kind = 'overloaded';
  else if (TIMEOUT_CODES.has(code)) kind = 'timeout';
  else if (RESET_CODES.has(code)) kind = 'reset';
  else if (
    code.startsWith('HPE_') ||
    code === 'UND_ERR_INFO' ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' ||
    isParserError(err)
  )
    kind = 'protocol';
  else kind = 'reset';
  return new UpstreamError(kind, code ? `${code}: ${message}` : message, {
    cause: err,
    connectFailed: kind === 'connect' || code === 'UND_ERR_CONNECT_TIMEOUT',
    resetBeforeResponse: kind === 'reset' && beforeResponse,
  });
}

/**
 * The request body handed to undici. A body backed by a Node stream (what @whatwg-node/server
 * gives for an incoming request) is passed as that stream, skipping a web-stream round trip.
 */
function nodeBody(body: UpstreamRequest['body']): Readable | Uint8Array | null {
  if (body === null || body instanceof Uint8Array) return body;
  const backing = (body as { readable?: unknown }).readable;
  if (backing instanceof Readable) return backing;
  return Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
}

const ignore = () => {};

/**
 * A response body that undici fills through its dispatch handler: the upstream is paused when
 * the client reads slower than the GPU host writes. A client that reads nothing for the idle
 * timeout while the upstream waits is cut off, upstream exchange included (undici's own body
 * timer stops while paused). Destroying the stream otherwise (client gone) hands the exchange
 * back to be drained, not aborted.
 *
 * `done` resolves when the client has the whole body, or else once the upstream exchange is over:
 * a body the client abandoned is still drained from the GPU host, whose slot stays taken. It is
 * settled from _destroy, which a Readable runs after 'end' as well as when destroyed early.
 */
class UpstreamBody extends Readable {
  bytes = 0;
  readonly done: Promise<BodyOutcome>;
  #settle!: (outcome: BodyOutcome) => void;
  readonly #controller: Dispatcher.DispatchController;
  readonly #stallMs: number;
  readonly #exchangeEnded: () => Promise<void>;
  readonly #abandoned: (cut: Error | undefined) => void;
  #stall: NodeJS.Timeout | undefined;
  #stalled = false;
  constructor(
    controller: Dispatcher.DispatchController,
    stallMs: number,
    exchangeEnded: () => Promise<void>,
    abandoned: (cut: Error | undefined) => void,
  ) {
    super();
    this.done = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.#controller = controller;
    this.#stallMs = stallMs;
    this.#exchangeEnded = exchangeEnded;
    this.#abandoned = abandoned;
    // The failure is reported through `done`; unheard, an 'error' event would end the process.
    this.on('error', ignore);
  }
  override _read(): void {
    if (this.#stall !== undefined) clearTimeout(this.#stall);
    this.#stall = undefined;
    this.#controller.resume();
  }
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#stall !== undefined) clearTimeout(this.#stall);
    if (this.readableEnded) {
      this.#settle({ bytes: this.bytes });
    } else {
      this.#abandoned(this.#stalled ? (err ?? undefined) : undefined);
      const error = err ? classifyUndiciError(err, false) : new UpstreamError('aborted', 'client closed the response');
      void this.#exchangeEnded().then(() => this.#settle({ bytes: this.bytes, error }));
    }
    callback(err);
  }
  deliver(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.destroyed || this.push(chunk)) return;
    this.#controller.pause();
    this.#stall ??= setTimeout(() => {
      this.#stalled = true;
      this.destroy(new UpstreamError('aborted', `the client read nothing for ${this.#stallMs} ms`));
    }, this.#stallMs);
  }
}

function hasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

export interface UndiciUpstream {
  client: UpstreamClient;
  close(): Promise<void>;
}

export function createUndiciUpstream(options: UndiciUpstreamOptions): UndiciUpstream {
  const agent = new Agent({
    connect: { timeout: options.connectTimeoutMs, lookup: guardedLookup },
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: options.idleTimeoutMs,
    keepAliveTimeout: 4_000,
  });

  const client: UpstreamClient = (request) =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      const { signal } = request;
      let controller: Dispatcher.DispatchController | undefined;
      let body: UpstreamBody | undefined;
      let settled = false;
      // The upstream exchange itself (not what the client got of it): over once the response ended
      // or failed. Its promise is made only for a client that left early, which must wait for it.
      let exchangeOver = false;
      let orphaned = false;
      let drainLimit: NodeJS.Timeout | undefined;
      let exchangeEnded: Promise<void> | undefined;
      let markOver: (() => void) | undefined;
      const whenExchangeEnds = () =>
        (exchangeEnded ??= exchangeOver
          ? Promise.resolve()
          : new Promise<void>((done) => {
              markOver = done;
            }));
      const endExchange = () => {
        if (exchangeOver) return;
        exchangeOver = true;
        clearTimeout(drainLimit);
        markOver?.();
      };

      // The client is gone but the GPU host is still working: read and discard the rest, so
      // the slot stays taken until the host is done, within the headers timeout at most.
      const orphan = () => {
        if (exchangeOver || orphaned) return;
        orphaned = true;
        request.onOrphaned?.();
        controller?.resume();
        drainLimit = setTimeout(
          () => controller?.abort(new UpstreamError('timeout', 'orphaned upstream exchange outlived the headers timeout')),
          options.headersTimeoutMs,
        );
      };

      // The listener is never removed: once the exchange is settled it does nothing, and it goes
      // with the request's signal. Removing it costs more than the rest of this function.
      const onAbort = () => {
        if (body) {
          if (!body.destroyed) body.destroy(new UpstreamError('aborted', 'client disconnected'));
          return;
        }
        if (settled) return;
        settled = true;
        orphan();
        reject(new UpstreamError('aborted', 'client disconnected', { exchangeEnded: whenExchangeEnds() }));
      };
      if (signal.aborted) {
        reject(new UpstreamError('aborted', 'client disconnected'));
        return;
      }
      signal.addEventListener('abort', onAbort);

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(ctrl) {
          controller = ctrl;
        },
        onResponseStart(ctrl, statusCode, headers) {
          if (statusCode < 200 || settled) return;
          settled = true;
          const upstreamHeaders = headers as HeaderRecord;
          if (hasNoBody(request.method, statusCode)) {
            resolve({ status: statusCode, headers: upstreamHeaders, body: null, done: Promise.resolve({ bytes: 0 }) });
            return;
          }
          body = new UpstreamBody(ctrl, options.idleTimeoutMs, whenExchangeEnds, (cut) => {
            if (cut === undefined) return orphan();
            // A client that stopped reading: the exchange is cut and the slot freed (a streaming GPU host notices at its next write).
            ctrl.abort(cut);
            endExchange();
          });
          resolve({ status: statusCode, headers: upstreamHeaders, body, done: body.done });
        },
        onResponseData(_ctrl, chunk) {
          // Once the client is gone the rest is discarded.
          if (body !== undefined && !body.destroyed) body.deliver(chunk);
        },
        onResponseEnd() {
          endExchange();
          if (body !== undefined && !body.destroyed) body.push(null);
        },
        onResponseError(_ctrl, err) {
          endExchange();
          const failure = classifyUndiciError(err, signal.aborted, !settled);
          if (!settled) {
            settled = true;
            reject(failure);
          } else if (body && !body.destroyed) {
            body.destroy(failure);
          }
        },
      };

      try {
        agent.dispatch(
          {
            origin: request.target.origin,
            path: request.target.path,
            method: request.method as Dispatcher.HttpMethod,
            headers: request.headers,
            body: nodeBody(request.body),
          },
          handler,
        );
      } catch (err) {
        endExchange();
        settled = true;
        reject(classifyUndiciError(err, false));
      }
    });

  // Exchanges still draining for clients that left are cut: the process is about to exit.
  return { client, close: () => agent.destroy() };
}
