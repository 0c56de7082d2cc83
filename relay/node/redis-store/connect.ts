/**
 * Connects the shared store. The client is ioredis: maintained by Redis, it speaks RESP for us, has
 * Cluster and Sentinel support, TLS by `rediss://`, reconnects with back-off, re-subscribes after a
 * reconnect, and runs Lua by EVALSHA with an automatic EVAL when a restarted server lost its script
 * cache (defineCommand); its offline-queue and command-timeout options give the fail-fast 503s we
 * want. node-redis (also Redis's) would serve as well; iovalkey is a young fork of ioredis with
 * far fewer users; Valkey GLIDE ships a native (Rust) library per platform, which our small
 * multi-arch image avoids.
 *
 * `redis+cluster://` (or `rediss+cluster://`) names one node of a Redis/Valkey Cluster: the client
 * learns the others from it. Every key of the relay carries the hash tag `{relay}`, so each Lua
 * script's keys are in one slot (served by one master); Cluster mode gives availability through
 * failover, not more throughput.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { TokenPlaceConfig } from '../../src/tokenplace/settings.ts';
import type { StoreObserver } from '../../src/tokenplace/store.ts';
import { RedisStore, type StoreMetrics } from './redis-store.ts';
import { ScriptRunner } from './script-runner.ts';
import { RedisSlotLeases } from './slot-leases.ts';

export interface StateConnection {
  url: string;
  /** Used when the URL carries no password (the chart fills it from a Secret). */
  password?: string;
  /** Key prefix; the store wraps it in a hash tag. */
  prefix?: string;
  /** A command unanswered this long fails, so a stalled server turns into 503s instead of hung requests. */
  commandTimeoutMs?: number;
  /** Queue commands while the first connection is made (tests that use the store synchronously); off in the relay. */
  queueWhileConnecting?: boolean;
}

/** One Valkey/Redis server, or a Cluster. */
export type StateClient = Redis | Cluster;

export const isClusterUrl = (url: string) => /^rediss?\+cluster:/i.test(url);

/** A client for the state URL: a Cluster client for `redis+cluster://` and `rediss+cluster://`. */
export function stateClient(connection: StateConnection, overrides: Partial<RedisOptions> = {}): StateClient {
  const options = { ...clientOptions(connection), ...overrides };
  if (!isClusterUrl(connection.url)) return new Redis(connection.url, options);
  const url = new URL(connection.url);
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...nodeOptions } = options;
  return new Cluster([{ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) }], {
    lazyConnect,
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    redisOptions: {
      ...nodeOptions,
      ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
      ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
      ...(url.protocol === 'rediss+cluster:' ? { tls: {} } : {}),
    },
  });
}

export interface ConnectionEvents {
  /** The connection for commands is (again) ready. */
  ready?(): void;
  reconnecting?(): void;
  error?(err: Error): void;
}

export function clientOptions(connection: StateConnection): RedisOptions {
  const hasPassword = new URL(connection.url).password !== '';
  return {
    ...(hasPassword || connection.password === undefined ? {} : { password: connection.password }),
    // Nothing waits for a connection that is down: the route answers 503 at once.
    enableOfflineQueue: connection.queueWhileConnecting === true,
    maxRetriesPerRequest: 0,
    commandTimeout: connection.commandTimeoutMs ?? 2000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
    lazyConnect: true,
  };
}

export function createRedisStore(
  connection: StateConnection,
  config: Pick<TokenPlaceConfig, 'maxNodes' | 'maxStoredBytes' | 'terminalTtlSeconds' | 'tombstoneTtlSeconds'>,
  hooks: {
    observer?: StoreObserver;
    metrics?: StoreMetrics;
    events?: ConnectionEvents;
    sweepIntervalMs?: number;
    /** Lease of a slot on the HTTP upstream (TOKENPLACE_RELAY_STATE_SLOT_LEASE_SECONDS). */
    slotLeaseMs?: number;
  } = {},
): { store: RedisStore; slots: RedisSlotLeases; ready: Promise<void>; client: StateClient; prefix: string } {
  const client = stateClient(connection);
  // The subscriber queues its SUBSCRIBE until it is connected, and replays it after every reconnect.
  const subscriber = stateClient(connection, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    commandTimeout: undefined,
  });
  for (const redis of [client, subscriber]) {
    redis.on('error', (err: Error) => hooks.events?.error?.(err));
  }
  client.on('reconnecting', () => hooks.events?.reconnecting?.());
  client.on('ready', () => hooks.events?.ready?.());
  const prefix = `${connection.prefix ?? 'tokenplace'}:{relay}:`;
  const store = new RedisStore({
    client,
    subscriber,
    prefix,
    maxNodes: config.maxNodes,
    maxStoredBytes: config.maxStoredBytes,
    terminalTtlMs: config.terminalTtlSeconds * 1000,
    tombstoneTtlMs: config.tombstoneTtlSeconds * 1000,
    sweepIntervalMs: hooks.sweepIntervalMs ?? 1000,
    sweepMinGapMs: (hooks.sweepIntervalMs ?? 1000) > 0 ? 250 : 0,
    observer: hooks.observer,
    metrics: hooks.metrics,
  });
  // The HTTP upstream's slots: leases on the same connection as the store (it is closed with the store).
  const slots = new RedisSlotLeases({
    scripts: new ScriptRunner({ client, prefix, terminalTtlMs: 0, tombstoneTtlMs: 0, metrics: hooks.metrics }),
    subscriber,
    prefix,
    leaseMs: hooks.slotLeaseMs ?? 10_000,
  });
  // Both connections keep retrying after a failed first attempt; `ready` only tells when the first one worked.
  const ready = Promise.all([client.connect(), store.start(), slots.start()]).then(() => undefined);
  ready.catch(() => undefined);
  return { store, slots, ready, client, prefix };
}
