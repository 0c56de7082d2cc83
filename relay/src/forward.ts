/**
 * The forward path to the HTTP GPU server: body limit, admission to a pool member, the upstream
 * call with one retry for idempotent requests that could not connect, and the streamed answer.
 */
import type { RequestLine } from './access-log.ts';
import { AdmissionRejection } from './admission.ts';
import { BodyTooLargeError, limitBody } from './body-limit.ts';
import { type GuardedBody, guardBodyProgress, PREREAD_BYTES, prereadBody } from './body-read.ts';
import type { RelayConfig } from './config.ts';
import type { Guards } from './guards.ts';
import { downstreamResponseHeaders, type HeaderRecord, headerValue, upstreamRequestHeaders } from './headers.ts';
import type { RelayMetrics, RouteLabel } from './observability.ts';
import type { PoolMember } from './pool.ts';
import { requestIdFor } from './request-id.ts';
import { errorResponse, type ResponseClass } from './responses.ts';
import { type PathAndQuery, pathAndQuery, upstreamTarget } from './target.ts';
import { trustedPeerCheck } from './trusted-proxies.ts';
import { type UpstreamClient, UpstreamError, type UpstreamErrorKind, type UpstreamRequest } from './upstream.ts';

/** Facts about the connection that only the hosting runtime knows. */
export interface RelayContext {
  clientAddress?: string;
  /**
   * The request's headers as the runtime parsed them, when it has them as a record (on Node,
   * IncomingMessage.headers): read instead of iterating Request.headers, which holds the same.
   */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** The request came in on the metrics port (TOKENPLACE_RELAY_METRICS_PORT), where only /metrics is served. */
  metricsListener?: boolean;
}

/** What a route adds to its request line beyond method, route, path, status and duration. */
export type RequestFields = Pick<RequestLine, 'requestId' | 'upstream' | 'upstreamStatus' | 'bytes' | 'error'>;

export type RecordRequest = (
  request: Request,
  route: RouteLabel,
  status: number,
  startedAt: number,
  fields: RequestFields,
  url?: PathAndQuery,
) => void;

export interface ForwardDeps {
  config: RelayConfig;
  upstream: UpstreamClient;
  guards: Guards;
  metrics: RelayMetrics;
  record: RecordRequest;
  Response: ResponseClass;
  upstreamName: string | undefined;
  now: () => number;
  generateId: () => string;
}

/** Status logged for requests whose client went away before the response (nginx's convention). */
export const CLIENT_CLOSED = 499;

const UPSTREAM_FAILURES: Record<
  UpstreamErrorKind,
  { status: number; code: string; message: string; headers?: Record<string, string> }
> = {
  connect: { status: 502, code: 'upstream_unavailable', message: 'The GPU server could not be reached.' },
  overloaded: {
    status: 503,
    code: 'relay_overloaded',
    message: 'The relay is out of connections right now; retry shortly.',
    headers: { 'retry-after': '1' },
  },
  reset: { status: 502, code: 'upstream_reset', message: 'The GPU server closed the connection before answering.' },
  protocol: { status: 502, code: 'upstream_bad_response', message: 'The GPU server sent a malformed response.' },
  timeout: { status: 504, code: 'upstream_timeout', message: 'The GPU server did not answer in time.' },
  aborted: { status: CLIENT_CLOSED, code: 'client_closed_request', message: 'The client closed the request.' },
};

function declaresBody(request: Request): boolean {
  if (request.method === 'GET' || request.method === 'HEAD' || request.body === null) return false;
  if (request.headers.has('transfer-encoding')) return true;
  const length = request.headers.get('content-length');
  return length !== null && length !== '0';
}

/** Plain object when possible (fastest to write on Node); name/value pairs when a header repeats, so no runtime folds set-cookie. */
function responseHeadersInit(headers: HeaderRecord): HeadersInit {
  let repeated = false;
  for (const name in headers) {
    if (Array.isArray(headers[name])) {
      repeated = true;
      break;
    }
  }
  if (!repeated) return headers as Record<string, string>;
  const pairs: [string, string][] = [];
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value)) for (const item of value) pairs.push([name, item]);
    else if (value !== undefined) pairs.push([name, value]);
  }
  return pairs;
}

export function createForward(deps: ForwardDeps): (request: Request, context: RelayContext | undefined) => Promise<Response> {
  const { config, upstream, guards, metrics, record, upstreamName, now, generateId } = deps;
  const ResponseCtor = deps.Response;
  const { admission } = guards;
  const trustedPeer = trustedPeerCheck(config.trustedProxies);
  return async function forward(request: Request, context: RelayContext | undefined): Promise<Response> {
    const startedAt = now();
    metrics.requestStarted('proxy');
    const incoming = context?.headers ?? request.headers;
    const requestId = requestIdFor(headerValue(incoming, 'x-request-id'), generateId);
    const idHeader = { 'x-request-id': requestId };
    const url = pathAndQuery(request.url);

    const fail = (
      status: number,
      code: string,
      message: string,
      error: string,
      extra: Record<string, string> = {},
      upstreamUrl = upstreamName,
    ) => {
      record(request, 'proxy', status, startedAt, { requestId, upstream: upstreamUrl, bytes: 0, error }, url);
      return errorResponse(ResponseCtor, status, code, message, { ...idHeader, ...extra });
    };

    const tooLarge = () =>
      fail(413, 'payload_too_large', `The request body exceeds ${config.maxBodyBytes} bytes.`, 'body_too_large', {
        connection: 'close',
      });
    let body: UpstreamRequest['body'] = null;
    let limited: ReturnType<typeof limitBody> | undefined;
    let guarded: GuardedBody | undefined;
    if (declaresBody(request)) {
      const declared = request.headers.get('content-length');
      let source = request.body as ReadableStream<Uint8Array>;
      if (declared !== null && !request.headers.has('transfer-encoding')) {
        if (Number(declared) > config.maxBodyBytes) return tooLarge();
      } else {
        limited = limitBody(source, config.maxBodyBytes);
        source = limited.stream;
      }
      // Before admission: a small body is read whole, so a trickling client holds no slot.
      try {
        const read = await prereadBody(source, PREREAD_BYTES);
        if (read instanceof Uint8Array) body = read;
        else {
          guarded = guardBodyProgress(read, config.clientBodyIdleTimeoutMs);
          body = guarded.stream;
        }
      } catch (err) {
        if (limited?.exceeded || err instanceof BodyTooLargeError) return tooLarge();
        return fail(CLIENT_CLOSED, 'client_closed_request', 'The client closed the request.', `aborted: ${String(err)}`);
      }
    }

    const headers = upstreamRequestHeaders(incoming, {
      clientAddress: context?.clientAddress,
      protocol: request.url.startsWith('https:') ? 'https' : 'http',
      host: headerValue(incoming, 'host') ?? undefined,
      requestId,
      // Forwarded headers are believed only from a proxy in TOKENPLACE_RELAY_TRUSTED_PROXIES.
      trustForwardedHeaders: config.trustForwardedHeaders && trustedPeer(context?.clientAddress),
    });

    // Admission: a free slot on a pool member now, a wait in the queue, or 503 (the GPU host never sees it).
    let admitted = admission.admit(request.signal);
    if (admitted instanceof Promise) admitted = await admitted;
    if (admitted instanceof AdmissionRejection) {
      const refused = guards.refusal(admitted);
      return fail(refused.status, refused.code, refused.message, admitted.reason, refused.headers);
    }
    let member = admitted;
    let orphaned = false;
    const onOrphaned = () => {
      orphaned = true;
      member.orphaned++;
    };
    /** Gives the slot back; an orphaned one stops counting as such. */
    const release = (held: PoolMember) => {
      if (orphaned) held.orphaned--;
      admission.release(held);
    };

    let answer: Awaited<ReturnType<UpstreamClient>>;
    for (let attempt = 1; ; attempt++) {
      try {
        answer = await upstream({
          target: upstreamTarget(member.url, url),
          method: request.method,
          headers,
          body,
          signal: request.signal,
          onOrphaned,
        });
        break;
      } catch (err) {
        if (err instanceof UpstreamError && err.exchangeEnded !== undefined) {
          // The client left, the GPU host is still working: its slot is held until the exchange is over.
          const held = member;
          void err.exchangeEnded.then(() => release(held));
          return fail(CLIENT_CLOSED, 'client_closed_request', 'The client closed the request.', `aborted: ${err.message}`);
        }
        // Frees the slot; a replayable request that found the member broken gets one more member.
        const replayable = body === null && (request.method === 'GET' || request.method === 'HEAD');
        let next = guards.failed(member, err, replayable, attempt);
        if (next instanceof Promise) next = await next.catch(() => undefined);
        if (next !== undefined) {
          member = next;
          continue;
        }
        if (limited?.exceeded || err instanceof BodyTooLargeError) return tooLarge();
        if (guarded?.stalled) {
          return fail(408, 'body_timeout', 'The request body stopped arriving.', `body stalled: ${String(err)}`, {
            connection: 'close',
          });
        }
        const failure =
          err instanceof UpstreamError
            ? err
            : new UpstreamError(request.signal.aborted ? 'aborted' : 'reset', String(err), { cause: err });
        if (failure.kind !== 'aborted') metrics.upstreamError(failure.kind);
        const { status, code, message, headers: extra } = UPSTREAM_FAILURES[failure.kind];
        return fail(status, code, message, `${failure.kind}: ${failure.message}`, extra, member.publicUrl);
      }
    }
    admission.pool.succeeded(member);
    const served = member;

    let response: Response;
    try {
      // A status HTTP does not define (undici parses any three digits) is not passed on.
      if (answer.status > 599) throw new RangeError(`status ${answer.status} is outside 100-599`);
      response = new ResponseCtor(answer.body as BodyInit | null, {
        status: answer.status,
        headers: responseHeadersInit(downstreamResponseHeaders(answer.headers, requestId)),
      });
    } catch (err) {
      (answer.body as { destroy?: () => void } | null)?.destroy?.();
      admission.release(served);
      metrics.upstreamError('protocol');
      const { status, code, message } = UPSTREAM_FAILURES.protocol;
      return fail(status, code, message, `protocol: ${String(err)}`, {}, served.publicUrl);
    }

    void answer.done.then((outcome) => {
      release(served);
      const error = outcome.error;
      if (error && error.kind !== 'aborted') metrics.upstreamError(error.kind);
      record(
        request,
        'proxy',
        error?.kind === 'aborted' ? CLIENT_CLOSED : answer.status,
        startedAt,
        {
          requestId,
          upstream: served.publicUrl,
          upstreamStatus: answer.status,
          bytes: outcome.bytes,
          ...(error ? { error: `${error.kind}: ${error.message}` } : {}),
        },
        url,
      );
    });
    return response;
  };
}
