import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Response as NodeResponse } from '@whatwg-node/fetch';
import { createServerAdapter } from '@whatwg-node/server';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AccessLog } from '../src/access-log.ts';
import { systemClock } from '../src/clock.ts';
import type { RelayConfig } from '../src/config.ts';
import { createRelayHandler, tokenPlaceObserver } from '../src/handler.ts';
import { Lifecycle } from '../src/lifecycle.ts';
import type { RelayMetrics } from '../src/observability.ts';
import { errorResponse, type ResponseClass } from '../src/responses.ts';
import type { SlotLeaseStore } from '../src/slots.ts';
import { memoryStoreFor } from '../src/tokenplace/memory-store.ts';
import type { RateLimiterFactory } from '../src/tokenplace/rate-limits.ts';
import { publicStateUrl } from '../src/tokenplace/settings.ts';
import type { TokenPlaceStore } from '../src/tokenplace/store.ts';
import { answerClientError, clientTimeouts, guardConnections } from './connection-limits.ts';
import { serveHalfClosedClients } from './half-close.ts';
import { createPipelineGate } from './pipelining.ts';
import { createStateStoreMetrics } from './prom-state-store.ts';
import { memoryRateLimiters, redisRateLimiters } from './rate-limiters.ts';
import type { createRedisStore as CreateRedisStore } from './redis-store/connect.ts';
import { refuseRequestHead } from './request-head.ts';
import { sendResponse } from './send-response.ts';
import { createUndiciUpstream } from './undici-upstream.ts';

/** Longer than Traefik's 90 s idle timeout for backend connections, so the relay is never the side that closes first. */
const KEEP_ALIVE_TIMEOUT_MS = 95_000;
/** Open connections on the metrics port at most: a scraper or two, never the public. */
const METRICS_CONNECTIONS = 16;

function rejectRequest(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}

/**
 * Puts a request target into origin-form before the fetch adapter builds a URL from it.
 * Absolute-form targets keep only their path (RFC 9112 section 3.2.2); the authority they
 * name is ignored, like the Host header, because the relay only ever talks to its upstream.
 */
export function normalizeTarget(url: string): string | undefined {
  if (url.startsWith('/')) return url;
  if (!/^https?:\/\//i.test(url)) return undefined;
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return undefined;
  }
}

export interface RelayServerOptions {
  config: RelayConfig;
  logger: Logger;
  /** Where request lines go (createLogger's accessLog); default: through the logger. */
  accessLog?: AccessLog;
  metrics: RelayMetrics & { registry?: Registry };
  version: string;
  /**
   * The Valkey/Redis store's factory, required when TOKENPLACE_RELAY_STATE_URL is set. Loaded by the
   * caller only then: the Redis client alone costs about 12 MB of memory a one-replica relay never uses.
   */
  createRedisStore?: typeof CreateRedisStore;
}

export interface RelayServer {
  server: Server;
  /** The listener of TOKENPLACE_RELAY_METRICS_PORT, when it is set. */
  metricsServer: Server | undefined;
  lifecycle: Lifecycle;
  /** Resolves with the bound port once the relay accepts connections and reports ready. */
  listen(): Promise<number>;
  /** Drain, stop accepting, wait for requests in flight, close. Resolves true when nothing had to be cut off. */
  shutdown(): Promise<boolean>;
}

/** The protocol's state: in this process, or on Valkey/Redis shared by every replica when TOKENPLACE_RELAY_STATE_URL is set. */
function protocolStore(
  config: RelayConfig,
  logger: Logger,
  metrics: RelayOptionsMetrics,
  createRedisStore: typeof CreateRedisStore | undefined,
): { store: TokenPlaceStore; shared: boolean; rateLimiters: RateLimiterFactory; slotLeases?: SlotLeaseStore } {
  const tp = config.tokenplace;
  const observer = tokenPlaceObserver(metrics);
  if (tp.stateUrl === undefined) {
    return { store: memoryStoreFor(tp, systemClock, observer), shared: false, rateLimiters: memoryRateLimiters };
  }
  if (createRedisStore === undefined)
    throw new Error('TOKENPLACE_RELAY_STATE_URL is set but the Valkey/Redis store was not loaded');
  const storeMetrics = metrics.registry === undefined ? undefined : createStateStoreMetrics(metrics.registry);
  let lastError = 0;
  const { store, slots, ready, client, prefix } = createRedisStore({ url: tp.stateUrl, password: tp.statePassword }, tp, {
    observer,
    metrics: storeMetrics,
    slotLeaseMs: tp.stateSlotLeaseSeconds * 1000,
    events: {
      ready: () => logger.info({ state: publicStateUrl(tp.stateUrl) }, 'connected to the shared state store'),
      reconnecting: () => storeMetrics?.reconnecting(),
      error: (err) => {
        // A down store reports every retry; one line a few seconds is enough.
        if (Date.now() - lastError < 5000) return;
        lastError = Date.now();
        logger.warn({ err: err.message, state: publicStateUrl(tp.stateUrl) }, 'state store connection error; retrying');
      },
    },
  });
  ready.catch((err: Error) =>
    logger.warn({ err: err.message }, 'state store not reachable yet; protocol routes answer 503 until it is'),
  );
  // The public quota, the control-plane budget and the HTTP upstream's slots are one budget across replicas too.
  return { store, shared: true, rateLimiters: redisRateLimiters(client, prefix), slotLeases: slots };
}

type RelayOptionsMetrics = RelayServerOptions['metrics'];

/** A promise, or one of @whatwg-node's synchronous look-alikes. */
function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** The Response class @whatwg-node/server sends fastest on Node. */
const NodeResponseClass = NodeResponse as unknown as ResponseClass;

export function createRelayServer({
  config,
  logger,
  accessLog,
  metrics,
  version,
  createRedisStore,
}: RelayServerOptions): RelayServer {
  const lifecycle = new Lifecycle();
  const upstream = createUndiciUpstream({
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    headersTimeoutMs: config.upstreamHeadersTimeoutMs,
    idleTimeoutMs: config.upstreamIdleTimeoutMs,
  });
  const { store: tokenplaceStore, shared, rateLimiters, slotLeases } = protocolStore(config, logger, metrics, createRedisStore);
  const relay = createRelayHandler(config, {
    upstream: upstream.client,
    metrics,
    log: logger,
    accessLog,
    lifecycle,
    version,
    Response: NodeResponseClass,
    tokenplaceStore,
    rateLimiters,
    slotLeases,
    resolveHost: async (host) => (await lookup(host, { all: true })).map((entry) => entry.address),
    // node:crypto's own, without the Web Crypto wrapper's receiver check.
    generateId: randomUUID,
  });
  const adapter = createServerAdapter<{ req: IncomingMessage; metricsListener: boolean }>(
    (request, serverContext) =>
      relay(request, {
        clientAddress: serverContext.req.socket.remoteAddress,
        headers: serverContext.req.headers,
        metricsListener: serverContext.metricsListener,
      }),
    // Node's own AbortController: the adapter's default wraps its signal in a Proxy that every
    // property read goes through, EventTarget internals included.
    { __useCustomAbortCtrl: false },
  );
  const internalError = () => errorResponse(NodeResponseClass, 500, 'internal_error', 'The relay failed to handle the request.');
  const couldNotSend = (res: ServerResponse, err: unknown) => {
    logger.error({ err }, 'could not send the response');
    res.destroy();
  };
  const send = (req: IncomingMessage, res: ServerResponse, response: Response | undefined) => {
    try {
      const sent = sendResponse(response ?? internalError(), res, req);
      if (isThenable(sent)) sent.then(undefined, (err: unknown) => couldNotSend(res, err));
    } catch (err) {
      couldNotSend(res, err);
    }
  };
  const handle = (req: IncomingMessage, res: ServerResponse, metricsListener = false) => {
    let answer: Response | PromiseLike<Response> | undefined;
    try {
      answer = adapter.handleNodeRequestAndResponse(req, res, { req, metricsListener });
    } catch (err) {
      logger.error({ err }, 'unhandled error');
      answer = internalError();
    }
    // The adapter answers synchronously when it can; a promise costs a turn of the microtask queue.
    if (!isThenable(answer)) return send(req, res, answer);
    answer.then(
      (response) => send(req, res, response),
      (err: unknown) => {
        logger.error({ err }, 'unhandled error');
        send(req, res, internalError());
      },
    );
  };

  let inFlight = 0;
  let idleWaiter: (() => void) | undefined;
  const pipelineGate = createPipelineGate();
  const server = createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, ...clientTimeouts(config) }, (req, res) => {
    inFlight++;
    res.on('close', () => {
      inFlight--;
      if (lifecycle.phase === 'stopping') {
        server.closeIdleConnections();
        if (inFlight === 0) idleWaiter?.();
      }
    });
    if (lifecycle.phase === 'stopping') res.setHeader('connection', 'close');

    const target = normalizeTarget(req.url ?? '');
    if (target === undefined) {
      rejectRequest(res, 400, 'bad_request_target', 'The request target must be a path or an http(s) URL.');
      return;
    }
    req.url = target;
    const refused = refuseRequestHead(req);
    if (refused !== undefined) {
      logger.debug({ host: req.headers.host, status: refused.status, code: refused.code }, 'request head refused');
      rejectRequest(res, refused.status, refused.code, refused.message);
      return;
    }
    pipelineGate(req, res, () => handle(req, res));
  });
  guardConnections(server, config.maxConnections, logger, () => metrics.connectionRefused());
  server.on('clientError', answerClientError(logger));
  serveHalfClosedClients(server);

  // /metrics on a port of its own: what routes the relay's port to the public (an Ingress path "/") never reaches it.
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, ...clientTimeouts(config) }, (req, res) => {
          const target = normalizeTarget(req.url ?? '');
          if (target === undefined) return rejectRequest(res, 400, 'bad_request_target', 'The request target must be a path.');
          req.url = target;
          handle(req, res, true);
        });
  if (metricsServer !== undefined) {
    guardConnections(metricsServer, METRICS_CONNECTIONS, logger, () => metrics.connectionRefused());
    metricsServer.on('clientError', answerClientError(logger));
  }

  function listenOn(listener: Server, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, config.host, () => {
        listener.off('error', reject);
        const address = listener.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  async function listen(): Promise<number> {
    if (metricsServer !== undefined) await listenOn(metricsServer, config.metricsPort as number);
    const port = await listenOn(server, config.port);
    lifecycle.markReady();
    return port;
  }

  async function shutdown(): Promise<boolean> {
    lifecycle.beginDrain();
    logger.info({ phase: 'draining', drainSeconds: config.drainSeconds }, 'readiness now fails; still serving during the drain');
    await new Promise((resolve) => setTimeout(resolve, config.drainSeconds * 1000));

    // token.place work this replica holds can still be answered and retrieved: the listener stays open for it.
    // With a shared store the work outlives this replica (the others serve it), so there is nothing to wait for.
    const budgetEnds = Date.now() + config.shutdownTimeoutSeconds * 1000;
    const outstandingHere = () => (shared ? Promise.resolve(0) : tokenplaceStore.outstanding());
    let outstanding = await outstandingHere();
    if (outstanding > 0) {
      logger.info({ phase: 'draining', outstanding }, 'waiting for relayed requests to be answered and retrieved');
    }
    while (outstanding > 0 && Date.now() < budgetEnds) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      outstanding = await outstandingHere();
    }
    if (outstanding > 0) {
      logger.warn({ phase: 'draining', outstanding }, 'shutdown timeout reached with relayed requests unfinished');
    }

    lifecycle.markStopping();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    logger.info(
      { phase: 'stopping', inFlight, shutdownTimeoutSeconds: config.shutdownTimeoutSeconds },
      'stopped accepting connections; waiting for requests in flight',
    );

    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      new Promise<boolean>((resolve) => {
        if (inFlight === 0) resolve(true);
        idleWaiter = () => resolve(true);
      }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(budgetEnds - Date.now(), 0));
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      logger.warn({ phase: 'stopping', inFlight }, 'shutdown timeout reached; closing remaining connections');
    }
    server.closeAllConnections();
    await closed;
    if (metricsServer !== undefined) {
      const metricsClosed = new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      metricsServer.closeAllConnections();
      await metricsClosed;
    }
    await upstream.close().catch(() => undefined);
    tokenplaceStore.close();
    logger.info({ phase: 'stopped', clean: finished }, 'relay stopped');
    return finished;
  }

  return { server, metricsServer, lifecycle, listen, shutdown };
}
