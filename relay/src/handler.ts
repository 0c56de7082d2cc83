import { Router } from 'itty-router';
import { type AccessLog, accessLogVia } from './access-log.ts';
import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import { publicUpstream, type RelayConfig, SETTINGS } from './config.ts';
import { CorsPolicy } from './cors.ts';
import { CLIENT_CLOSED, createForward, type RelayContext, type RequestFields } from './forward.ts';
import { createGuards } from './guards.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { ResolveHost } from './member-identity.ts';
import type { RelayLogger, RelayMetrics, RouteLabel } from './observability.ts';
import { redactQuery } from './redact.ts';
import type { ServerRegistry } from './registry.ts';
import { errorResponse, jsonResponse, type ResponseClass } from './responses.ts';
import { SERVERS_PATH } from './servers-route.ts';
import type { SlotLeaseStore } from './slots.ts';
import { type PathAndQuery, pathnameOf, queryOf } from './target.ts';
import { createTokenPlaceProtocol } from './tokenplace/protocol.ts';
import type { RateLimiterFactory } from './tokenplace/rate-limits.ts';
import { isStale } from './tokenplace/scheduler.ts';
import { type StoreObserver, StoreUnavailableError, type TokenPlaceStore } from './tokenplace/store.ts';
import type { UpstreamClient } from './upstream.ts';

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
  /** Resolves host names to addresses (DNS); without it a host name is known by its name only. */
  resolveHost?: ResolveHost;
  /** Counts rate-limited hits; without it the protocol's rate limits are off. */
  rateLimiters?: RateLimiterFactory;
  /** Leases on the HTTP upstream's slots shared by every replica (one GPU budget); default: this replica's own. */
  slotLeases?: SlotLeaseStore;
  /** Where request lines go; default: through `log`. */
  accessLog?: AccessLog;
}

export type { RelayContext } from './forward.ts';

/** How the protocol's store reports ended requests and removed nodes to the metrics. */
export function tokenPlaceObserver(metrics: RelayMetrics): StoreObserver {
  return {
    terminal: (outcome, reason) => metrics.relayedRequestEnded(outcome, reason),
    evicted: (reason) => metrics.computeNodeRemoved(reason),
  };
}

export type RelayHandler = (request: Request, context?: RelayContext) => Promise<Response>;

export function createRelayHandler(config: RelayConfig, deps: RelayDeps): RelayHandler {
  const { metrics, log, lifecycle, upstream } = deps;
  const accessLog = deps.accessLog ?? accessLogVia(log);
  const now = deps.now ?? (() => performance.now());
  const generateId = deps.generateId ?? (() => crypto.randomUUID());
  const ResponseCtor = deps.Response ?? Response;
  const upstreamName = publicUpstream(config.upstreamUrl);
  const forwarding = config.upstreamUrl !== undefined;
  const ownMethods = { allow: 'GET, HEAD' };
  const guards = createGuards(config, { ...deps, Response: ResponseCtor });
  const protocol = createTokenPlaceProtocol({
    config: config.tokenplace,
    trustForwardedHeaders: config.trustForwardedHeaders,
    trustedProxies: config.trustedProxies,
    upstream: upstreamName,
    lifecycle,
    log,
    Response: ResponseCtor,
    clock: deps.clock,
    store: deps.tokenplaceStore,
    rateLimiters: deps.rateLimiters,
    observer: tokenPlaceObserver(metrics),
  });
  metrics.observeTokenPlace({
    async nodes() {
      const at = (deps.clock ?? systemClock).now();
      // A scrape while the state store is down reports no nodes rather than failing every metric.
      const nodes = await protocol.store.listNodes(at).catch(() => []);
      return nodes.map((node) => ({ ...node, active: !isStale(node, at) }));
    },
  });

  function pathOf(request: Request, url?: PathAndQuery): { path: string; query: string } {
    if (url !== undefined) return { path: url.pathname, query: redactQuery(url.search) };
    // Without a parsed URL at hand, the string is split rather than parsed (the protocol routes' hot path).
    const query = queryOf(request.url);
    return { path: pathnameOf(request.url), query: query === '' ? '' : redactQuery(query) };
  }

  /** One log line and the metrics of a finished request. */
  function record(
    request: Request,
    route: RouteLabel,
    status: number,
    startedAt: number,
    fields: RequestFields,
    url?: PathAndQuery,
  ): void {
    const seconds = (now() - startedAt) / 1000;
    metrics.requestFinished(route, request.method, status, seconds);
    // Probes and scrapes arrive every few seconds, and the protocol's polls many times a second; they are logged only at debug level.
    const level = route !== 'proxy' ? 'debug' : fields.error !== undefined && status !== CLIENT_CLOSED ? 'warn' : 'info';
    if (!accessLog.enabled(level)) return;
    const { path, query } = pathOf(request, url);
    accessLog.write(level, {
      method: request.method,
      route,
      path,
      query,
      status,
      durationMs: Math.round(seconds * 100_000) / 100,
      ...fields,
    });
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
    let counts: Awaited<ReturnType<typeof protocol.counts>>;
    try {
      counts = await protocol.counts();
    } catch (err) {
      // The shared state store is down: this replica cannot serve the protocol, so it leaves the Service until it returns.
      if (!(err instanceof StoreUnavailableError)) throw err;
      return jsonResponse(ResponseCtor, 503, { status: 'state_unavailable', version: deps.version });
    }
    const status = phase === 'ready' ? 200 : 503;
    return jsonResponse(ResponseCtor, status, {
      status: phase,
      // Whether forwarding is on, never where to: the upstream's address stays internal.
      relayOnly: !forwarding,
      ...counts,
      version: deps.version,
    });
  });

  /** token.place's relay API v1: answered here, never forwarded, with its own CORS rules. */
  async function protocolRoute(
    request: Request,
    context: RelayContext | undefined,
    route: RouteLabel,
    path: string,
  ): Promise<Response> {
    const startedAt = now();
    metrics.requestStarted(route);
    const response = await protocol.handle(request, context, path);
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
  async function serversRoute(request: Request, context: RelayContext | undefined): Promise<Response> {
    const startedAt = now();
    metrics.requestStarted('servers');
    const response = await guards.servers(request, context?.clientAddress);
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
  const forward = forwarding
    ? createForward({ config, upstream, guards, metrics, record, Response: ResponseCtor, upstreamName, now, generateId })
    : undefined;

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

  // With a metrics port, /metrics lives there alone: the relay's port, which an Ingress may route to the public, has none.
  const notHere = own('metrics', () => errorResponse(ResponseCtor, 404, 'not_found', 'Nothing here.'));
  const router = Router<Request, [RelayContext | undefined]>({
    catch: (err: unknown, request: Request) => {
      log.error({ err, method: request.method, ...pathOf(request) }, 'unhandled error');
      return errorResponse(ResponseCtor, 500, 'internal_error', 'The relay failed to handle the request.');
    },
  });
  router
    .all('/livez', livez)
    .all('/healthz', healthz)
    .all('/metrics', config.metricsPort === undefined ? metricsRoute : notHere)
    .all(SERVERS_PATH, forwarding ? serversRoute : notForwarded)
    .all(`${SERVERS_PATH}/*`, forwarding ? serversRoute : notForwarded)
    .all('*', forward ?? (async (request: Request) => notForwarded(request)));

  // The patterns of the router's own routes. A path none of them matches would only reach the
  // catch-all: such a request goes to forward directly, without the router parsing its URL and
  // query string a second time (what nearly every request to a GPU host is).
  const ownPatterns = router.routes.filter(([, , , path]) => path !== '*').map(([, pattern]) => pattern);
  const isOwnPath = (path: string) => {
    // Dot segments and backslashes are resolved by URL parsing (the router's view): such paths take the router.
    if (path.includes('/.') || path.includes('\\')) return true;
    for (const pattern of ownPatterns) if (pattern.test(path)) return true;
    return false;
  };
  /** The request's path is the one the dispatcher below has already split off its URL. */
  type PathHandler = (request: Request, context: RelayContext | undefined, path: string) => Promise<Response>;
  const routed: PathHandler = (request, context, path) =>
    forward === undefined || isOwnPath(path)
      ? (router.fetch(request, context) as Promise<Response>)
      : // A failure forward does not answer itself reaches the runtime's own 500 (on Node, server.ts).
        forward(request, context);
  const cors = guards.cors;
  const handle: PathHandler =
    cors === undefined
      ? routed
      : async (request, context, path) => {
          if (CorsPolicy.isPreflight(request)) return preflight(request);
          const response = await routed(request, context, path);
          cors.apply(response.headers, request.headers.get('origin'));
          return response;
        };
  return (request, context) => {
    const path = pathnameOf(request.url);
    if (context?.metricsListener === true) return path === '/metrics' ? metricsRoute(request) : notHere(request);
    const route = protocol.match(path);
    return route === undefined ? handle(request, context, path) : protocolRoute(request, context, route, path);
  };
}
