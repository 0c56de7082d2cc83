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

export interface UndiciUpstreamOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  /** Longest silence between two body chunks from the upstream. */
  idleTimeoutMs: number;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);

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

export function classifyUndiciError(err: unknown, aborted: boolean): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = errorCode(err) ?? '';
  const message = err instanceof Error ? err.message : String(err);
  let kind: UpstreamErrorKind;
  if (aborted || code === 'UND_ERR_ABORTED' || code === 'UND_ERR_ABORT' || code === 'ABORT_ERR') kind = 'aborted';
  else if (CONNECT_CODES.has(code)) kind = 'connect';
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
  });
}

/**
 * The request body handed to undici. A body backed by a Node stream (what @whatwg-node/server
 * gives for an incoming request) is passed as that stream, skipping a web-stream round trip.
 */
function nodeBody(body: UpstreamRequest['body']): Readable | null {
  if (body === null) return null;
  const backing = (body as { readable?: unknown }).readable;
  if (backing instanceof Readable) return backing;
  return Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
}

/**
 * A response body that undici fills through its dispatch handler: the upstream is paused when
 * the client reads slower than the GPU host writes, and destroying the stream (client gone)
 * aborts the upstream exchange.
 */
class UpstreamBody extends Readable {
  bytes = 0;
  private controller: Dispatcher.DispatchController;
  constructor(controller: Dispatcher.DispatchController) {
    super();
    this.controller = controller;
  }
  override _read(): void {
    this.controller.resume();
  }
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.readableEnded) this.controller.abort(err ?? new UpstreamError('aborted', 'response body abandoned'));
    callback(err);
  }
  deliver(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (!this.push(chunk)) this.controller.pause();
  }
}

function settleWhenFinished(body: UpstreamBody): Promise<BodyOutcome> {
  return new Promise((resolve) => {
    let failure: UpstreamError | undefined;
    body.on('error', (err) => {
      failure = classifyUndiciError(err, false);
    });
    let ended = false;
    body.once('end', () => {
      ended = true;
      resolve({ bytes: body.bytes });
    });
    body.once('close', () => {
      if (ended) return;
      resolve({ bytes: body.bytes, error: failure ?? new UpstreamError('aborted', 'client closed the response') });
    });
  });
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
    connect: { timeout: options.connectTimeoutMs },
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

      const onAbort = () => {
        const reason = new UpstreamError('aborted', 'client disconnected');
        if (body) body.destroy(reason);
        else controller?.abort(reason);
        if (!settled) {
          settled = true;
          reject(reason);
        }
      };
      if (signal.aborted) {
        reject(new UpstreamError('aborted', 'client disconnected'));
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(ctrl) {
          controller = ctrl;
        },
        onResponseStart(ctrl, statusCode, headers) {
          if (statusCode < 200) return;
          settled = true;
          const upstreamHeaders = headers as HeaderRecord;
          if (hasNoBody(request.method, statusCode)) {
            signal.removeEventListener('abort', onAbort);
            resolve({ status: statusCode, headers: upstreamHeaders, body: null, done: Promise.resolve({ bytes: 0 }) });
            return;
          }
          body = new UpstreamBody(ctrl);
          const current = body;
          current.once('close', () => signal.removeEventListener('abort', onAbort));
          resolve({ status: statusCode, headers: upstreamHeaders, body: current, done: settleWhenFinished(current) });
        },
        onResponseData(_ctrl, chunk) {
          body?.deliver(chunk);
        },
        onResponseEnd() {
          body?.push(null);
        },
        onResponseError(_ctrl, err) {
          const failure = classifyUndiciError(err, signal.aborted);
          if (!settled) {
            settled = true;
            signal.removeEventListener('abort', onAbort);
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
        signal.removeEventListener('abort', onAbort);
        reject(classifyUndiciError(err, false));
      }
    });

  return { client, close: () => agent.close() };
}
