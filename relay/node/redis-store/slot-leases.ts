/**
 * One GPU budget for the HTTP upstream across replicas: each slot a request holds on a pool member
 * is a lease in Valkey/Redis, a member of a sorted set per member URL scored by its expiry.
 * Acquiring is one Lua script (drop lapsed leases, count, pick the least loaded candidate, add), so
 * two replicas can never both take the last slot. This replica renews the leases it holds while
 * their exchanges run; a replica killed with SIGKILL stops renewing, and its slots come back when
 * the lease runs out.
 *
 * Waiting requests learn of freed slots by pub/sub (a release publishes on one channel), and by a
 * short poll besides, which also notices leases that lapsed, since a lapse publishes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { SlotCandidate, SlotLeaseStore } from '../../src/slots.ts';
import type { StateClient } from './connect.ts';
import type { ScriptRunner } from './script-runner.ts';

/** ARGV[1] is the caller's clock, ARGV[4] the lease length (ARGV[2] and [3] are the store's TTLs, unused here). */
const HEADER = `
local P = KEYS[1]
local NOW = tonumber(ARGV[1])
local LEASE = tonumber(ARGV[4])
local function slotsK(url) return P .. 'slots:' .. redis.sha1hex(url) end
local function keep(key)
  if redis.call('PTTL', key) < LEASE * 2 then redis.call('PEXPIRE', key, LEASE * 2) end
end
`;

export const SLOT_SCRIPTS: [string, string][] = [
  [
    // ARGV[5]: lease id; then member URL and capacity pairs, in order of preference.
    'slot_acquire',
    `${HEADER}
local best, bestLoad, bestKey = -1, nil, nil
for i = 6, #ARGV, 2 do
  local key = slotsK(ARGV[i])
  local capacity = tonumber(ARGV[i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', NOW)
  local held = redis.call('ZCARD', key)
  if held < capacity and (bestLoad == nil or held / capacity < bestLoad) then
    best, bestLoad, bestKey = (i - 6) / 2, held / capacity, key
  end
end
if bestKey then
  redis.call('ZADD', bestKey, NOW + LEASE, ARGV[5])
  keep(bestKey)
end
return cjson.encode({ r = 'ok', index = best })
`,
  ],
  [
    // ARGV[5]: member URL, ARGV[6]: lease id.
    'slot_release',
    `${HEADER}
redis.call('ZREM', slotsK(ARGV[5]), ARGV[6])
redis.call('PUBLISH', P .. 'slots', '')
return cjson.encode({ r = 'ok' })
`,
  ],
  [
    // Member URL and lease id pairs: each lease runs LEASE from now. A lease that lapsed while the store
    // was out of reach comes back: its request is still running on the GPU host.
    'slot_renew',
    `${HEADER}
for i = 5, #ARGV, 2 do
  local key = slotsK(ARGV[i])
  redis.call('ZADD', key, NOW + LEASE, ARGV[i + 1])
  keep(key)
end
return cjson.encode({ r = 'ok' })
`,
  ],
];

export interface SlotLeaseOptions {
  scripts: ScriptRunner;
  subscriber: StateClient;
  prefix: string;
  leaseMs: number;
  /** How often waiting requests look again without a message (lapsed leases publish nothing). */
  pollMs?: number;
}

export class RedisSlotLeases implements SlotLeaseStore {
  readonly #options: SlotLeaseOptions;
  readonly #channel: string;
  /** Lease ids this replica holds, by member URL; leases on one member are interchangeable. */
  readonly #held = new Map<string, string[]>();
  readonly #listeners: (() => void)[] = [];
  readonly #replica = randomUUID();
  #next = 0;
  readonly #timers: ReturnType<typeof setInterval>[];

  constructor(options: SlotLeaseOptions) {
    this.#options = options;
    this.#channel = `${options.prefix}slots`;
    options.scripts.define(SLOT_SCRIPTS);
    options.subscriber.on('message', (from: string) => {
      if (from === this.#channel) this.#freed();
    });
    const renew = setInterval(() => this.#renew(), Math.max(100, Math.floor(options.leaseMs / 3)));
    const poll = setInterval(() => this.#freed(), options.pollMs ?? 250);
    this.#timers = [renew, poll];
    for (const timer of this.#timers) timer.unref();
  }

  start(): Promise<unknown> {
    return this.#options.subscriber.subscribe(this.#channel);
  }

  async acquire(candidates: readonly SlotCandidate[]): Promise<number> {
    const id = `${this.#replica}:${this.#next++}`;
    const pairs = candidates.flatMap((candidate) => [candidate.key, candidate.capacity]);
    const reply = await this.#options.scripts.run('slot_acquire', Date.now(), this.#options.leaseMs, id, ...pairs);
    const index = Number(reply.index);
    if (index < 0) return -1;
    const key = candidates[index].key;
    const held = this.#held.get(key);
    if (held === undefined) this.#held.set(key, [id]);
    else held.push(id);
    return index;
  }

  release(key: string): void {
    const held = this.#held.get(key);
    const id = held?.pop();
    if (id === undefined) return;
    if (held?.length === 0) this.#held.delete(key);
    // Not given back (store out of reach): no longer renewed, it lapses.
    this.#options.scripts.run('slot_release', Date.now(), this.#options.leaseMs, key, id).catch(() => undefined);
  }

  onFreed(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Leases this replica holds now (tests, metrics). */
  get held(): number {
    let count = 0;
    for (const ids of this.#held.values()) count += ids.length;
    return count;
  }

  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
  }

  #freed(): void {
    if (this.#options.scripts.closed) {
      this.close();
      return;
    }
    for (const listener of this.#listeners) listener();
  }

  #renew(): void {
    if (this.#held.size === 0 || this.#options.scripts.closed) return;
    const pairs: string[] = [];
    for (const [key, ids] of this.#held) for (const id of ids) pairs.push(key, id);
    this.#options.scripts.run('slot_renew', Date.now(), this.#options.leaseMs, ...pairs).catch(() => undefined);
  }
}
