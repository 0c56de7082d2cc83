/**
 * The two implementations of TokenPlaceStore the contract suite runs against. Each fixture gives
 * two handles on one shared state: for the Redis store two replicas (separate clients, one key
 * prefix), for the in-memory store the same instance twice.
 */
import { createRedisStore } from '../../../node/redis-store/connect.ts';
import { MemoryStore } from '../../../src/tokenplace/memory-store.ts';
import type { StoreObserver, TokenPlaceStore, Work } from '../../../src/tokenplace/store.ts';
import type { TerminalStatus } from '../../../src/tokenplace/wire.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

export const T0 = 1_700_000_000_000;
export const TERMINAL_TTL_MS = 600_000;
export const TOMBSTONE_TTL_MS = 60_000;

export interface Recorded {
  terminal: [TerminalStatus | 'completed', string][];
  evicted: string[];
}

export interface Fixture {
  a: TokenPlaceStore;
  b: TokenPlaceStore;
  events: Recorded;
  close(): Promise<void>;
}

export interface FixtureOptions {
  maxNodes?: number;
  maxStoredBytes?: number;
}

function recorder(): { events: Recorded; observer: StoreObserver } {
  const events: Recorded = { terminal: [], evicted: [] };
  return {
    events,
    observer: {
      terminal: (status, reason) => events.terminal.push([status, reason]),
      evicted: (reason) => events.evicted.push(reason),
    },
  };
}

export async function memoryFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const { events, observer } = recorder();
  const store = new MemoryStore({
    maxNodes: options.maxNodes ?? 100,
    maxStoredBytes: options.maxStoredBytes ?? 64 * 1024 * 1024,
    terminalTtlMs: TERMINAL_TTL_MS,
    tombstoneTtlMs: TOMBSTONE_TTL_MS,
    clock: new FakeClock(),
    sweepIntervalMs: 0,
    observer,
  });
  return { a: store, b: store, events, close: async () => store.close() };
}

let prefixes = 0;

/** server: one redis-server, or a Cluster (its redis+cluster:// URL). */
export async function redisFixture(server: { url: string }, options: FixtureOptions = {}): Promise<Fixture> {
  const { events, observer } = recorder();
  const config = {
    maxNodes: options.maxNodes ?? 100,
    maxStoredBytes: options.maxStoredBytes ?? 64 * 1024 * 1024,
    terminalTtlSeconds: TERMINAL_TTL_MS / 1000,
    tombstoneTtlSeconds: TOMBSTONE_TTL_MS / 1000,
  };
  const prefix = `contract${process.pid}-${prefixes++}`;
  const replicas = [0, 1].map(() => createRedisStore({ url: server.url, prefix }, config, { observer, sweepIntervalMs: 0 }));
  await Promise.all(replicas.map((replica) => replica.ready));
  return {
    a: replicas[0].store,
    b: replicas[1].store,
    events,
    close: async () => {
      for (const replica of replicas) replica.store.close();
    },
  };
}

export function capabilities(maxConcurrency = 1) {
  return {
    api_version: 'v1' as const,
    supported_model_ids: ['qwen3-8b-instruct'],
    active_context_tier: '8k-fast',
    maximum_total_context_tokens: 8192,
    default_output_token_reservation: 1024,
    maximum_output_tokens: 8192,
    max_concurrency: maxConcurrency,
    backend_class: 'cuda',
  };
}

export function work(nodeKey: string, clientKey: string, requestId: string, overrides: Partial<Work> = {}): Work {
  return {
    clientKey,
    requestId,
    nodeKey,
    envelope: {
      client_public_key: clientKey,
      request_id: requestId,
      chat_history: `cipher-of-${requestId}`,
      ciphertext: `cipher-of-${requestId}`,
      cipherkey: 'wrapped',
      iv: 'iv==',
      protocol: 'tokenplace_api_v1_relay_e2ee',
      version: 1,
    } as unknown as Work['envelope'],
    cancelToken: `cancel-${requestId}`,
    deadline: T0 + 480_000,
    queuedAt: T0,
    ...overrides,
  };
}

export function answer(clientKey: string, requestId: string): Work['envelope'] {
  return { ...work('n', clientKey, requestId).envelope, ciphertext: `answer-to-${requestId}` } as Work['envelope'];
}
