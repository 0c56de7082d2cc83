/**
 * token.place's relay API v1, answered by the relay itself: the routes by path and method, the
 * public CORS contract, and the store behind them. The relay never connects to a compute node and
 * never sees plaintext; it only moves ciphertext between mailboxes.
 */
import type { CidrRange } from '../cidr.ts';
import { type Clock, systemClock } from '../clock.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { RelayLogger, RouteLabel } from '../observability.ts';
import type { ResponseClass } from '../responses.ts';
import { ServerTokens } from './auth.ts';
import { memoryStoreFor } from './memory-store.ts';
import { type RateLimiterFactory, RateLimits } from './rate-limits.ts';
import { createClientPlane } from './routes/client-plane.ts';
import type { Peer, Route, RouteContext } from './routes/context.ts';
import { createDiagnostics, type NodeCounts, nodeCounts } from './routes/diagnostics.ts';
import { createNodePlane } from './routes/node-plane.ts';
import { createPoll } from './routes/poll.ts';
import { isPublicPath, PUBLIC_CORS_HEADERS, PUBLIC_PREFLIGHT_HEADERS } from './routes/public-cors.ts';
import type { TokenPlaceConfig } from './settings.ts';
import { type StoreObserver, StoreUnavailableError, type TokenPlaceStore } from './store.ts';
import { createWire } from './wire.ts';

export interface ProtocolDeps {
  config: TokenPlaceConfig;
  trustForwardedHeaders: boolean;
  /** Peers whose X-Forwarded-For is believed for the client address. */
  trustedProxies: readonly CidrRange[];
  /** The HTTP upstream as shown in diagnostics; undefined when forwarding is off. */
  upstream: string | undefined;
  lifecycle: Lifecycle;
  log: RelayLogger;
  Response: ResponseClass;
  clock?: Clock;
  store?: TokenPlaceStore;
  rateLimiters?: RateLimiterFactory;
  observer?: StoreObserver;
}

export interface TokenPlaceProtocol {
  /** The metrics label of the protocol route at path, or undefined when the path is not the protocol's. */
  match(path: string): RouteLabel | undefined;
  /** path: the request's path, which the caller already has. */
  handle(request: Request, peer: Peer | undefined, path: string): Promise<Response>;
  counts(): Promise<NodeCounts>;
  readonly store: TokenPlaceStore;
  close(): void;
}

interface Entry {
  label: RouteLabel;
  methods: Partial<Record<'GET' | 'POST', Route>>;
}

export function createTokenPlaceProtocol(deps: ProtocolDeps): TokenPlaceProtocol {
  const clock = deps.clock ?? systemClock;
  const wire = createWire(deps.Response);
  const publicWire = createWire(deps.Response, PUBLIC_CORS_HEADERS);
  const { config } = deps;
  const store = deps.store ?? memoryStoreFor(config, clock, deps.observer);
  const ctx: RouteContext = {
    config,
    trustForwardedHeaders: deps.trustForwardedHeaders,
    trustedProxies: deps.trustedProxies,
    store,
    wire,
    clock,
    lifecycle: deps.lifecycle,
    log: deps.log,
    tokens: new ServerTokens(config.serverTokens),
    limits: new RateLimits(config.publicRateLimits, config.controlPlaneIpRateLimit, deps.rateLimiters),
  };
  // Held long polls are answered at once when the drain begins, so nodes move to another replica.
  deps.lifecycle.onDrain(() => store.wakeAll());

  const node = createNodePlane(ctx);
  const client = createClientPlane({ ...ctx, wire: publicWire });
  const diagnostics = createDiagnostics(store, wire, () => clock.now(), deps.upstream);
  const legacyGone =
    (path: string): Route =>
    async () =>
      wire.error(
        410,
        `Legacy relay endpoint '${path}' is deprecated. Use API v1 relay E2EE routes.`,
        'legacy_relay_endpoint_deprecated',
        { deprecated: true },
      );
  const plaintextDisabled =
    (what: string): Route =>
    async () =>
      wire.json(503, {
        error: {
          type: 'service_unavailable_error',
          code: 'distributed_api_v1_relay_disabled',
          message: `Distributed relay API v1 ${what} are disabled pending an end-to-end encrypted relay design.`,
        },
      });

  const routes = new Map<string, Entry>([
    ['/api/v1/relay/servers/register', { label: 'relay_register', methods: { POST: node.register } }],
    ['/api/v1/relay/servers/poll', { label: 'relay_poll', methods: { POST: createPoll(ctx) } }],
    ['/api/v1/relay/servers/control', { label: 'relay_control', methods: { POST: node.control } }],
    ['/api/v1/relay/servers/unregister', { label: 'relay_unregister', methods: { POST: node.unregister } }],
    ['/api/v1/relay/responses', { label: 'relay_responses', methods: { POST: node.responses } }],
    ['/api/v1/relay/progress', { label: 'relay_progress', methods: { POST: node.progress } }],
    ['/unregister', { label: 'relay_unregister', methods: { POST: node.legacyUnregister } }],
    ['/api/v1/relay/servers/next', { label: 'relay_next', methods: { GET: client.next } }],
    ['/api/v1/relay/requests', { label: 'relay_requests', methods: { POST: client.requests } }],
    ['/api/v1/relay/requests/cancel', { label: 'relay_cancel', methods: { POST: client.cancel } }],
    ['/api/v1/relay/responses/retrieve', { label: 'relay_retrieve', methods: { POST: client.retrieve } }],
    ['/relay/diagnostics', { label: 'relay_diagnostics', methods: { GET: diagnostics } }],
    ['/relay/api/v1/chat/completions', { label: 'relay_legacy', methods: { POST: plaintextDisabled('chat completions') } }],
    ['/relay/api/v1/source', { label: 'relay_legacy', methods: { POST: plaintextDisabled('source dispatch') } }],
    ['/next_server', { label: 'relay_legacy', methods: { GET: legacyGone('/next_server') } }],
    ...['/faucet', '/sink', '/source', '/retrieve', '/stream/source', '/stream/retrieve'].map((path): [string, Entry] => [
      path,
      { label: 'relay_legacy', methods: { POST: legacyGone(path) } },
    ]),
  ]);

  function match(path: string): RouteLabel | undefined {
    const entry = routes.get(path);
    if (entry !== undefined) return entry.label;
    return path.startsWith('/api/v1/relay/') ? 'relay_unknown' : undefined;
  }

  let lastUnavailableLog = Number.NEGATIVE_INFINITY;
  /** A shared store that cannot be reached costs the caller a retry, never the relay its process. */
  async function answerOrUnavailable(
    route: Route,
    request: Request,
    peer: Peer | undefined,
    publicRoute: boolean,
  ): Promise<Response> {
    try {
      return await route(request, peer);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      const at = clock.now();
      if (at - lastUnavailableLog >= 1000) {
        lastUnavailableLog = at;
        deps.log.warn({ err: err.message }, 'protocol state store unavailable; answering 503');
      }
      return (publicRoute ? publicWire : wire).error(
        503,
        'The relay cannot reach its state store; try again shortly.',
        'relay_state_unavailable',
        {},
        { 'retry-after': String(err.retryAfterSeconds) },
      );
    }
  }

  async function handle(request: Request, peer: Peer | undefined, path: string): Promise<Response> {
    const entry = routes.get(path);
    const publicRoute = isPublicPath(path);
    const answer = publicRoute ? publicWire : wire;
    if (entry === undefined) return answer.error(404, `No relay API route ${path}`, 404);
    if (request.method === 'OPTIONS') {
      const allow = [...Object.keys(entry.methods), 'OPTIONS'].join(', ');
      return new deps.Response(null, { status: 204, headers: publicRoute ? { ...PUBLIC_PREFLIGHT_HEADERS } : { allow } });
    }
    const route = entry.methods[request.method as 'GET' | 'POST'] ?? (request.method === 'HEAD' ? entry.methods.GET : undefined);
    if (route !== undefined) return answerOrUnavailable(route, request, peer, publicRoute);
    const allow = Object.keys(entry.methods).join(', ');
    return answer.error(
      405,
      `${request.method} is not allowed on ${path}; use ${allow}.`,
      405,
      {},
      { allow: `${allow}, OPTIONS` },
    );
  }

  return {
    match,
    handle,
    counts: () => nodeCounts(store, clock.now()),
    store,
    close: () => store.close(),
  };
}
