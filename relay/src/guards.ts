/**
 * Wires what protects the GPU hosts and the relay for the handler: the upstream pool, admission
 * control, compute-node registration, CORS and the /metrics token. Each piece lives in its own
 * module; this one only builds them from the configuration and maps their outcomes to HTTP.
 */
import { Admission, type AdmissionRejection } from './admission.ts';
import { type Clock, systemClock } from './clock.ts';
import type { RelayConfig } from './config.ts';
import { CorsPolicy } from './cors.ts';
import type { ResolveHost } from './member-identity.ts';
import type { RelayLogger, RelayMetrics } from './observability.ts';
import { type PoolMember, UpstreamPool } from './pool.ts';
import { InMemoryRegistry, type ServerRegistry } from './registry.ts';
import { errorResponse, type ResponseClass } from './responses.ts';
import { bearerToken, SecretMatcher } from './secret.ts';
import { createServersRoute } from './servers-route.ts';
import { SharedSlots, type SlotLeaseStore, type Taken } from './slots.ts';
import { UpstreamError } from './upstream.ts';

export interface GuardDeps {
  metrics: RelayMetrics;
  log: RelayLogger;
  Response: ResponseClass;
  clock?: Clock;
  registry?: ServerRegistry;
  generateId?: () => string;
  resolveHost?: ResolveHost;
  /** Leases on the upstream's slots shared with other replicas; default: this replica's own counts. */
  slotLeases?: SlotLeaseStore;
}

export interface Refusal {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
}

export interface Guards {
  admission: Admission;
  /** Undefined when CORS is off. */
  cors: CorsPolicy | undefined;
  /** The /relay/servers route. */
  servers(request: Request, clientAddress?: string): Promise<Response>;
  /** Undefined when /metrics may be served, else the 401 to send. */
  metricsAccess(request: Request): Promise<Response | undefined> | undefined;
  /** The HTTP answer to a request admission control turned away. */
  refusal(rejection: AdmissionRejection): Refusal;
  /**
   * The upstream call on member failed: frees its slot, counts a failure for passive health
   * (refused, unreachable, TLS handshake failed, connection reset before any response byte), and
   * returns another member when the request may be retried there: a replayable request (GET or
   * HEAD without a body) on its first attempt, with nothing sent to its client yet.
   */
  failed(member: PoolMember, err: unknown, replayable: boolean, attempt: number): Taken;
}

export function createGuards(config: RelayConfig, deps: GuardDeps): Guards {
  const clock = deps.clock ?? systemClock;
  const { metrics, log } = deps;
  const pool = new UpstreamPool({
    staticUrl: config.upstreamUrl,
    maxConcurrency: config.upstreamMaxConcurrency,
    ejectAfterFailures: config.ejectAfterFailures,
    ejectBackoffMs: config.ejectBackoffMs,
    clock,
    onEject(member, backoffMs) {
      metrics.upstreamEjected(member.isStatic ? 'static' : 'registered');
      log.warn(
        { member: member.id, upstream: member.publicUrl, failures: member.consecutiveFailures, backoffMs },
        'upstream ejected after consecutive failures (refused, TLS, reset before answering)',
      );
    },
  });
  const slots = deps.slotLeases === undefined ? undefined : new SharedSlots(pool, deps.slotLeases);
  const admission = new Admission(pool, {
    queueLength: config.queueLength,
    queueTimeoutMs: config.queueTimeoutMs,
    clock,
    slots,
    observer: {
      waited: (seconds, outcome) => metrics.queueWaited(seconds, outcome),
      rejected: (reason) => metrics.admissionRejected(reason),
    },
  });
  metrics.observeAdmission({
    depth: () => admission.depth,
    members: () => pool.members(),
    now: () => clock.now(),
  });

  const registry = deps.registry ?? new InMemoryRegistry(config.serverLeaseSeconds, deps.generateId);
  const servers = createServersRoute({
    config,
    registry,
    admission,
    clock,
    log,
    Response: deps.Response,
    resolveHost: deps.resolveHost,
  });
  const metricsMatcher = config.metricsToken === undefined ? undefined : new SecretMatcher(config.metricsToken);
  const ResponseCtor = deps.Response;

  const refusals = {
    queue_full: {
      status: 503,
      code: 'queue_full',
      message: 'Every GPU server is busy and the queue is full; retry later.',
    },
    queue_timeout: {
      status: 503,
      code: 'queue_timeout',
      message: `No GPU server became free within ${config.queueTimeoutMs} ms; retry later.`,
    },
    state_unavailable: {
      status: 503,
      code: 'state_unavailable',
      message: 'The relay cannot reach its state store, which holds the GPU budget of every replica; retry shortly.',
    },
    client_closed: { status: 499, code: 'client_closed_request', message: 'The client closed the request.' },
  } as const;

  return {
    admission,
    cors: config.cors === undefined ? undefined : new CorsPolicy(config.cors),
    servers,
    metricsAccess(request) {
      if (metricsMatcher === undefined) return undefined;
      return metricsMatcher.matches(bearerToken(request.headers.get('authorization'))).then((ok) =>
        ok
          ? undefined
          : errorResponse(ResponseCtor, 401, 'unauthorized', 'The metrics endpoint needs Authorization: Bearer <token>.', {
              'www-authenticate': 'Bearer realm="metrics"',
            }),
      );
    },
    refusal(rejection) {
      return { ...refusals[rejection.reason], headers: { 'retry-after': String(rejection.retryAfterSeconds) } };
    },
    failed(member, err, replayable, attempt) {
      const broken = err instanceof UpstreamError && (err.connectFailed || err.resetBeforeResponse);
      // Health first, so a freed slot is not handed to a waiter on a member about to be ejected.
      if (broken) pool.connectFailed(member);
      admission.release(member);
      if (!broken || !replayable || attempt > 1) return undefined;
      // Another member first; a lone member gets the retry itself, on a fresh connection (a reused
      // keep-alive socket the GPU host had just closed is the common cause of a reset before any byte).
      const { slots } = admission;
      const onSame = () => (err.resetBeforeResponse ? slots.takeOn(member) : undefined);
      const other = slots.take(member);
      if (!(other instanceof Promise)) return other ?? onSame();
      // A store that cannot be reached means no retry: the request fails as it would have without one.
      return other.then((found) => found ?? onSame()).catch(() => undefined);
    },
  };
}
