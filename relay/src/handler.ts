import { Router } from 'itty-router';
import { AdmissionRejection } from './admission.ts';
import { BodyTooLargeError, limitBody } from './body-limit.ts';
import type { Clock } from './clock.ts';
import { publicUpstream, type RelayConfig, SETTINGS } from './config.ts';
import { CorsPolicy } from './cors.ts';
import { createGuards } from './guards.ts';
import { downstreamResponseHeaders, type HeaderRecord, upstreamRequestHeaders } from './headers.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { RelayLogger, RelayMetrics, RouteLabel } from './observability.ts';
import { redactQuery } from './redact.ts';
import type { ServerRegistry } from './registry.ts';
import { requestIdFor } from './request-id.ts';
import { errorResponse, jsonResponse, type ResponseClass } from './responses.ts';
import { SERVERS_PATH } from './servers-route.ts';
import { upstreamTarget } from './target.ts';
import { createTokenPlaceProtocol } from './tokenplace/protocol.ts';
import type { RateLimiterFactory } from './tokenplace/rate-limits.ts';
import type { TokenPlaceStore } from './tokenplace/store.ts';
import { type UpstreamClient, UpstreamError, type UpstreamErrorKind } from './upstream.ts';

export interface RelayDeps {
  upstream: UpstreamClient;
  metrics: RelayMetrics;
  log: RelayLogger;
  lifecycle: Lifecycle;
  version: string;
  /** Milliseconds from an arbitrary origin; only differences are used. */
  now?: () => number;
  generateId?: () => string;
  /** The Response class the hosting runtime sends fastest (on Node, @whatwg-node's). */
  Response?: ResponseClass;
  /** Wall clock and timers of the pool and the queue. */
  clock?: Clock;
  /** Where registered compute nodes are kept (default: in memory, per replica). */
  registry?: ServerRegistry;
  /** token.place protocol state (default: in memory, per replica). */
  tokenplaceStore?: TokenPlaceStore;
  /** Counts rate-limited hits; without it the protocol's rate limits are off. */
  rateLimiters?: RateLimiterFactory;
}

/** Facts about the connection that only the hosting runtime knows. */
export interface RelayContext {
  clientAddress?: string;
}

export type RelayHandler = (request: Request, context?: RelayContext) => Promise<Response>;

/** Status logged for requests whose client went away before the response (nginx's convention). */
const CLIENT_CLOSED = 499;

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

/** The path of an absolute request URL, without building a URL object on the hot path. */
function pathnameOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  let end = url.length;
  const query = url.indexOf('?', start);
  if (query !== -1) end = query;
  const hash = url.indexOf('#', start);
  if (hash !== -1 && hash < end) end = hash;
  return url.slice(start, end);
}

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

export function createRelayHandler(config: RelayConfig, deps: RelayDeps): RelayHandler {
  const { metrics, log, lifecycle, upstream } = deps;
  const now = deps.now ?? (() => performance.now());
  const generateId = deps.generateId ?? (() => crypto.randomUUID());
  const ResponseCtor = deps.Response ?? Response;
  const upstreamName = publicUpstream(config.upstreamUrl);
  const forwarding = config.upstreamUrl !== undefined;
  const ownMethods = { allow: 'GET, HEAD' };
  const guards = createGuards(config, { ...deps, Response: ResponseCtor });
  const { admission } = guards;
  const protocol = createTokenPlaceProtocol({
    config: config.tokenplace,
    trustForwardedHeaders: config.trustForwardedHeaders,
    upstream: upstreamName,
    lifecycle,
    log,
    Response: ResponseCtor,
    clock: deps.clock,
    store: deps.tokenplaceStore,
    rateLimiters: deps.rateLimiters,
  });

  function pathOf(request: Request, url: URL = new URL(request.url)): { path: string; query: string } {
    return { path: url.pathname, query: redactQuery(url.search) };
  }

  /** One log line and the metrics of a finished request. */
  function record(
    request: Request,
    route: RouteLabel,
    status: number,
    startedAt: number,
    fields: Record<string, unknown>,
    url?: URL,
  ): void {
    const seconds = (now() - startedAt) / 1000;
    metrics.requestFinished(route, request.method, status, seconds);
    const line = {
      method: request.method,
      route,
      ...pathOf(request, url),
      status,
      durationMs: Math.round(seconds * 100_000) / 100,
      ...fields,
    };
    if (route !== 'proxy') {
      // Probes and scrapes arrive every few seconds; they are logged only at debug level.
      log.debug(line, 'request');
    } else if (fields.error !== undefined && status !== CLIENT_CLOSED) {
      log.warn(line, 'request');
    } else {
      log.info(line, 'request');
    }
  }

  function own(route: RouteLabel, respond: (request: Request) => Response | Promise<Response>) {
    return async (request: Request) => {
      const startedAt = now();
      metrics.requestStarted(route);
      const response =
        request.method === 'GET' || request.method === 'HEAD'
          ? await respond(request)
          : errorResponse(ResponseCtor, 405, 'method_not_allowed', `${request.method} is not allowed here.`, ownMethods);
      record(request, route, response.status, startedAt, {});
      return response;
    };
  }

  const livez = own('livez', () =>
    lifecycle.shuttingDown
      ? jsonResponse(ResponseCtor, 503, { status: 'shutting_down' })
      : jsonResponse(ResponseCtor, 200, { status: 'alive' }),
  );

  const healthz = own('healthz', async () => {
    const phase = lifecycle.phase;
    if (phase === 'draining' || phase === 'stopping') return jsonResponse(ResponseCtor, 503, { status: 'draining' });
    const status = phase === 'ready' ? 200 : 503;
    return jsonResponse(ResponseCtor, status, {
      status: phase,
      upstream: upstreamName ?? null,
      relayOnly: !forwarding,
      ...(await protocol.counts()),
      version: deps.version,
    });
  });

  /** token.place's relay API v1: answered here, never forwarded, with its own CORS rules. */
  async function protocolRoute(request: Request, context: RelayContext | undefined, route: RouteLabel): Promise<Response> {
    const startedAt = now();
    metrics.requestStarted(route);
    const response = await protocol.handle(request, context);
    record(request, route, response.status, startedAt, {});
    return response;
  }

  const metricsRoute = own('metrics', async (request) => {
    const refused = await guards.metricsAccess(request);
    if (refused !== undefined) return refused;
    const { contentType, body } = await metrics.render();
    return new ResponseCtor(body, { status: 200, headers: { 'content-type': contentType, 'cache-control': 'no-store' } });
  });

  /** /relay/servers: registration and the pool listing (see servers-route.ts). */
  async function serversRoute(request: Request): Promise<Response> {
    const startedAt = now();
    metrics.requestStarted('servers');
    const response = await guards.servers(request);
    record(request, 'servers', response.status, startedAt, {});
    return response;
  }

  /** CORS preflights are answered here and never reach the GPU host. */
  function preflight(request: Request): Response {
    const startedAt = now();
    metrics.requestStarted('preflight');
    const answer = (guards.cors as CorsPolicy).preflight(request);
    const response = answer.allowed
      ? new ResponseCtor(null, { status: 204, headers: answer.headers })
      : errorResponse(ResponseCtor, 403, 'cors_not_allowed', answer.reason, answer.headers);
    record(request, 'preflight', response.status, startedAt, {});
    return response;
  }

  /** With no HTTP upstream configured, what the relay does not answer itself does not exist. */
  function notForwarded(request: Request): Response {
    const startedAt = now();
    metrics.requestStarted('proxy');
    const response = errorResponse(
      ResponseCtor,
      404,
      'not_found',
      `Nothing here: the relay answers token.place's /api/v1/relay/* routes, and forwards other paths only when ${SETTINGS.upstreamUrl.name} is set.`,
    );
    record(request, 'proxy', 404, startedAt, { error: 'http_upstream_off' });
    return response;
  }

  async function forward(request: Request, context: RelayContext | undefined): Promise<Response> {
    const startedAt = now();
    metrics.requestStarted('proxy');
    const requestId = requestIdFor(request.headers.get('x-request-id'), generateId);
    const idHeader = { 'x-request-id': requestId };
    const url = new URL(request.url);

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

    let body: ReadableStream<Uint8Array> | null = null;
    let limited: ReturnType<typeof limitBody> | undefined;
    if (declaresBody(request)) {
      const declared = request.headers.get('content-length');
      if (declared !== null && !request.headers.has('transfer-encoding')) {
        if (Number(declared) > config.maxBodyBytes) {
          return fail(413, 'payload_too_large', `The request body exceeds ${config.maxBodyBytes} bytes.`, 'body_too_large', {
            connection: 'close',
          });
        }
        body = request.body;
      } else {
        limited = limitBody(request.body as ReadableStream<Uint8Array>, config.maxBodyBytes);
        body = limited.stream;
      }
    }

    const headers = upstreamRequestHeaders(request.headers, {
      clientAddress: context?.clientAddress,
      protocol: url.protocol === 'https:' ? 'https' : 'http',
      host: request.headers.get('host') ?? undefined,
      requestId,
      trustForwardedHeaders: config.trustForwardedHeaders,
    });

    // Admission: a free slot on a pool member now, a wait in the queue, or 503 (the GPU host never sees it).
    let admitted = admission.admit(request.signal);
    if (admitted instanceof Promise) admitted = await admitted;
    if (admitted instanceof AdmissionRejection) {
      const refused = guards.refusal(admitted);
      return fail(refused.status, refused.code, refused.message, admitted.reason, refused.headers);
    }
    let member = admitted;

    let answer: Awaited<ReturnType<UpstreamClient>>;
    for (let attempt = 1; ; attempt++) {
      try {
        answer = await upstream({
          target: upstreamTarget(member.url, url),
          method: request.method,
          headers,
          body,
          signal: request.signal,
        });
        break;
      } catch (err) {
        // Frees the slot; an idempotent request that could not connect gets one more member.
        const next = guards.failed(member, err, request.method, attempt);
        if (next !== undefined) {
          member = next;
          continue;
        }
        if (limited?.exceeded || err instanceof BodyTooLargeError) {
          return fail(413, 'payload_too_large', `The request body exceeds ${config.maxBodyBytes} bytes.`, 'body_too_large', {
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
      admission.release(served);
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
  }

  const router = Router<Request, [RelayContext | undefined]>({
    catch: (err: unknown, request: Request) => {
      log.error({ err, method: request.method, ...pathOf(request) }, 'unhandled error');
      return errorResponse(ResponseCtor, 500, 'internal_error', 'The relay failed to handle the request.');
    },
  });
  router
    .all('/livez', livez)
    .all('/healthz', healthz)
    .all('/metrics', metricsRoute)
    .all(SERVERS_PATH, forwarding ? serversRoute : notForwarded)
    .all(`${SERVERS_PATH}/*`, forwarding ? serversRoute : notForwarded)
    .all('*', forwarding ? forward : async (request: Request) => notForwarded(request));

  const routed: RelayHandler = (request, context) => router.fetch(request, context) as Promise<Response>;
  const cors = guards.cors;
  const handle: RelayHandler =
    cors === undefined
      ? routed
      : async (request, context) => {
          if (CorsPolicy.isPreflight(request)) return preflight(request);
          const response = await routed(request, context);
          cors.apply(response.headers, request.headers.get('origin'));
          return response;
        };
  return (request, context) => {
    const route = protocol.match(pathnameOf(request.url));
    return route === undefined ? handle(request, context) : protocolRoute(request, context, route);
  };
}
