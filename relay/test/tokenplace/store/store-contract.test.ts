/**
 * The contract of TokenPlaceStore, one suite run against both implementations: the in-memory store
 * and the Valkey/Redis store, on a real redis-server and on a real three-master Redis Cluster, both
 * started and stopped by this file.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sizeOf } from '../../../src/tokenplace/memory-node.ts';
import { type RedisCluster, startRedisCluster } from '../../helpers/redis-cluster.ts';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.ts';
import {
  answer,
  capabilities,
  type Fixture,
  type FixtureOptions,
  memoryFixture,
  redisFixture,
  T0,
  TERMINAL_TTL_MS,
  TOMBSTONE_TTL_MS,
  work,
} from './fixtures.ts';

let redis: RedisServer | undefined;
let cluster: RedisCluster | undefined;
beforeAll(async () => {
  [redis, cluster] = await Promise.all([startRedisServer(), startRedisCluster()]);
});
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

const implementations: [string, (options?: FixtureOptions) => Promise<Fixture>][] = [
  ['memory', memoryFixture],
  ['redis', (options) => redisFixture(redis as RedisServer, options)],
  ['redis cluster', (options) => redisFixture(cluster as RedisCluster, options)],
];

const DIGEST = 'a'.repeat(64);
const TTL = 60_000;

describe.each(implementations)('TokenPlaceStore contract: %s', (_name, make) => {
  let open: Fixture[] = [];
  async function fixture(options?: FixtureOptions): Promise<Fixture> {
    const created = await make(options);
    open.push(created);
    return created;
  }
  afterEach(async () => {
    for (const f of open) await f.close();
    open = [];
  });

  async function withNode(maxConcurrency = 1, options?: FixtureOptions) {
    const f = await fixture(options);
    const registered = await f.a.registerNode(
      { publicKey: 'node-key', capabilities: capabilities(maxConcurrency), leaseSeconds: 30, credentialDigest: DIGEST },
      T0,
    );
    expect(registered).toEqual({ ok: true, created: true });
    return f;
  }

  describe('nodes', () => {
    it('registers once, renews on a second registration, and is seen by every replica', async () => {
      const f = await withNode();
      expect(
        await f.b.registerNode(
          { publicKey: 'node-key', capabilities: capabilities(2), leaseSeconds: 40, credentialDigest: 'other' },
          T0 + 5,
        ),
      ).toEqual({ ok: true, created: false });
      const record = await f.a.getNode('node-key');
      expect(record).toMatchObject({
        publicKey: 'node-key',
        credentialDigest: DIGEST,
        registeredAt: T0,
        lastSeenAt: T0 + 5,
        leaseSeconds: 40,
      });
      expect(record?.capabilities.max_concurrency).toBe(2);
      expect(await f.b.listNodes(T0 + 5)).toEqual([
        expect.objectContaining({ publicKey: 'node-key', queueDepth: 0, inFlight: 0 }),
      ]);
      expect(await f.a.getNode('unknown')).toBeUndefined();
    });

    it('refuses a node beyond maxNodes and numbers nodes in registration order', async () => {
      const f = await fixture({ maxNodes: 2 });
      for (const key of ['n1', 'n2']) {
        await f.a.registerNode({ publicKey: key, capabilities: capabilities(), leaseSeconds: 30, credentialDigest: DIGEST }, T0);
      }
      expect(
        await f.b.registerNode({ publicKey: 'n3', capabilities: capabilities(), leaseSeconds: 30, credentialDigest: DIGEST }, T0),
      ).toEqual({
        ok: false,
        reason: 'full',
      });
      const nodes = await f.a.listNodes(T0);
      expect(nodes.map((node) => node.publicKey)).toEqual(['n1', 'n2']);
      expect(nodes[0].order).toBeLessThan(nodes[1].order);
    });

    it('touches a known node (lease, polling, capabilities) and reports an unknown one', async () => {
      const f = await withNode();
      expect(await f.b.touchNode('missing', { leaseSeconds: 30, pollingUntil: undefined }, T0)).toBe(false);
      expect(
        await f.b.touchNode('node-key', { leaseSeconds: 20, pollingUntil: T0 + 10_000, capabilities: capabilities(3) }, T0 + 100),
      ).toBe(true);
      expect(await f.a.getNode('node-key')).toMatchObject({ lastSeenAt: T0 + 100, leaseSeconds: 20, pollingUntil: T0 + 10_000 });
      await f.a.touchNode('node-key', { leaseSeconds: 20, pollingUntil: undefined }, T0 + 200);
      const record = await f.b.getNode('node-key');
      expect(record?.pollingUntil).toBeUndefined();
      expect(record?.capabilities.max_concurrency).toBe(3);
    });

    it('unregisters only with the owner digest; queued work is cancelled and in-flight work tombstoned', async () => {
      const f = await withNode(1);
      await f.a.enqueue(work('node-key', 'c', 'flying'), 10, T0);
      await f.a.enqueue(work('node-key', 'c', 'waiting'), 10, T0);
      expect((await f.b.claim('node-key', TTL, T0)).kind).toBe('work');
      expect(await f.b.unregisterNode('node-key', 'b'.repeat(64), T0)).toBe('forbidden');
      expect(await f.b.unregisterNode('node-key', DIGEST, T0)).toBe('removed');
      expect(await f.a.unregisterNode('node-key', DIGEST, T0)).toBe('absent');
      expect(await f.a.getNode('node-key')).toBeUndefined();
      expect(await f.a.retrieve('c', 'waiting', T0)).toEqual({
        kind: 'terminal',
        status: 'cancelled',
        reason: 'server_unregistered',
      });
      expect(await f.a.control('node-key', 'flying', DIGEST, false, TTL, T0)).toEqual({
        kind: 'terminal',
        status: 'cancelled',
        deadline: T0 + 480_000,
      });
      expect(f.events.evicted).toEqual(['unregistered']);
    });
  });

  describe('queue and dispatch', () => {
    it('enqueues once per request id, refuses unknown nodes, full queues and finished requests', async () => {
      const f = await withNode();
      expect(await f.a.enqueue(work('other', 'c', 'r'), 10, T0)).toEqual({ ok: false, reason: 'unknown_node' });
      expect(await f.a.enqueue(work('node-key', 'c', 'r'), 2, T0)).toEqual({
        ok: true,
        deadline: T0 + 480_000,
        duplicate: false,
      });
      expect(await f.b.enqueue(work('node-key', 'c', 'r', { deadline: T0 + 1 }), 2, T0)).toEqual({
        ok: true,
        deadline: T0 + 480_000,
        duplicate: true,
      });
      expect(await f.b.enqueue(work('node-key', 'c', 'r2'), 2, T0)).toMatchObject({ ok: true, duplicate: false });
      expect(await f.b.enqueue(work('node-key', 'c', 'r3'), 2, T0)).toEqual({ ok: false, reason: 'queue_full' });
      expect((await f.a.listNodes(T0))[0].queueDepth).toBe(2);
      await f.a.claim('node-key', TTL, T0);
      await f.a.storeResponse(answer('c', 'r'), T0);
      expect(await f.b.enqueue(work('node-key', 'c', 'r'), 10, T0)).toEqual({ ok: false, reason: 'finished' });
    });

    it('refuses a request beyond the stored-ciphertext budget, and frees the budget when answers are retrieved', async () => {
      const one = sizeOf(work('node-key', 'c', 'r1').envelope);
      const f = await withNode(2, { maxStoredBytes: 2 * one + 10 });
      expect(await f.a.enqueue(work('node-key', 'c', 'r1'), 10, T0)).toMatchObject({ ok: true });
      expect(await f.b.enqueue(work('node-key', 'c', 'r2'), 10, T0)).toMatchObject({ ok: true });
      expect(await f.b.enqueue(work('node-key', 'c', 'r3'), 10, T0)).toEqual({ ok: false, reason: 'storage_full' });
      await f.a.claim('node-key', TTL, T0);
      await f.a.storeResponse(answer('c', 'r1'), T0);
      expect(await f.b.enqueue(work('node-key', 'c', 'r3'), 10, T0)).toEqual({ ok: false, reason: 'storage_full' });
      await f.b.retrieve('c', 'r1', T0);
      expect(await f.b.enqueue(work('node-key', 'c', 'r3'), 10, T0)).toMatchObject({ ok: true });
      await f.a.cancel('c', 'r2', 'cancel-r2', 'cancelled', 'client_cancelled', T0);
      expect(await f.b.enqueue(work('node-key', 'c', 'r4'), 10, T0)).toMatchObject({ ok: true });
    });

    it('dispatches in arrival order, never more than max_concurrency, and hands back what the work carried', async () => {
      const f = await withNode(2);
      for (const id of ['r1', 'r2', 'r3']) await f.a.enqueue(work('node-key', 'c', id), 10, T0);
      const first = await f.b.claim('node-key', TTL, T0);
      expect(first).toEqual({ kind: 'work', work: work('node-key', 'c', 'r1') });
      expect(await f.a.claim('node-key', TTL, T0)).toMatchObject({ kind: 'work', work: { requestId: 'r2' } });
      expect(await f.a.claim('node-key', TTL, T0)).toEqual({ kind: 'none' });
      expect(await f.a.listNodes(T0)).toEqual([expect.objectContaining({ queueDepth: 1, inFlight: 2 })]);
      await f.b.storeResponse(answer('c', 'r1'), T0 + 10);
      expect(await f.a.claim('node-key', TTL, T0 + 10)).toMatchObject({ kind: 'work', work: { requestId: 'r3' } });
      expect(await f.a.claim('unknown', TTL, T0)).toEqual({ kind: 'unknown_node' });
    });

    it('gives a slot back when the in-flight lease runs out without a control renewal', async () => {
      const f = await withNode(1);
      await f.a.enqueue(work('node-key', 'c', 'r1'), 10, T0);
      await f.a.enqueue(work('node-key', 'c', 'r2'), 10, T0);
      await f.a.claim('node-key', TTL, T0);
      expect(await f.a.claim('node-key', TTL, T0 + TTL - 1)).toEqual({ kind: 'none' });
      expect(await f.b.control('node-key', 'r1', DIGEST, false, TTL, T0 + TTL - 1)).toEqual({
        kind: 'active',
        deadline: T0 + 480_000,
      });
      expect(await f.a.claim('node-key', TTL, T0 + TTL + 10)).toEqual({ kind: 'none' });
      expect(await f.a.claim('node-key', TTL, T0 + 2 * TTL)).toMatchObject({ kind: 'work', work: { requestId: 'r2' } });
    });

    it('puts an unclaimed request back at the head of the queue', async () => {
      const f = await withNode(1);
      await f.a.enqueue(work('node-key', 'c', 'r1'), 10, T0);
      await f.a.enqueue(work('node-key', 'c', 'r2'), 10, T0);
      const claimed = await f.a.claim('node-key', TTL, T0);
      if (claimed.kind !== 'work') throw new Error('no work');
      await f.b.unclaim(claimed.work, T0);
      expect(await f.a.listNodes(T0)).toEqual([expect.objectContaining({ queueDepth: 2, inFlight: 0 })]);
      expect(await f.b.claim('node-key', TTL, T0)).toMatchObject({ kind: 'work', work: { requestId: 'r1' } });
    });

    it('expires a queued request whose deadline passed instead of dispatching it', async () => {
      const f = await withNode(1);
      await f.a.enqueue(work('node-key', 'c', 'old', { deadline: T0 + 100 }), 10, T0);
      await f.a.enqueue(work('node-key', 'c', 'new'), 10, T0);
      expect(await f.b.claim('node-key', TTL, T0 + 100)).toMatchObject({ kind: 'work', work: { requestId: 'new' } });
      expect(await f.a.retrieve('c', 'old', T0 + 100)).toEqual({
        kind: 'terminal',
        status: 'expired',
        reason: 'provider_timeout',
      });
      expect(f.events.terminal).toEqual([['expired', 'provider_timeout']]);
    });

    it('under concurrent claims from two replicas, each request goes to exactly one poll and max_concurrency holds', async () => {
      const f = await withNode(5);
      for (let i = 0; i < 20; i++) await f.a.enqueue(work('node-key', 'c', `r${i}`), 100, T0);
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? f.a : f.b).claim('node-key', TTL, T0)));
      const won = results.flatMap((result) => (result.kind === 'work' ? [result.work.requestId] : []));
      expect(won).toHaveLength(5);
      expect(new Set(won).size).toBe(5);
      expect((await f.a.listNodes(T0))[0]).toMatchObject({ inFlight: 5, queueDepth: 15 });
      // Finishing and claiming race too; in flight never passes 5.
      let delivered = won.length;
      while (delivered < 20) {
        const finishing = won.splice(0, won.length);
        await Promise.all(finishing.map((id, i) => (i % 2 ? f.a : f.b).storeResponse(answer('c', id), T0)));
        const next = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? f.a : f.b).claim('node-key', TTL, T0)));
        for (const result of next) if (result.kind === 'work') won.push(result.work.requestId);
        expect((await f.b.listNodes(T0))[0].inFlight).toBeLessThanOrEqual(5);
        delivered += won.length;
      }
      expect(delivered).toBe(20);
    });
  });

  describe('answers, progress and cancel', () => {
    async function dispatched(maxConcurrency = 1) {
      const f = await withNode(maxConcurrency);
      await f.a.enqueue(work('node-key', 'c', 'r'), 10, T0);
      await f.a.claim('node-key', TTL, T0);
      return f;
    }

    it('delivers an answer once, even to two replicas retrieving at the same time', async () => {
      const f = await dispatched();
      expect(await f.b.retrieve('c', 'r', T0)).toEqual({ kind: 'pending', deadline: T0 + 480_000, progress: undefined });
      expect(await f.b.storeResponse(answer('c', 'r'), T0 + 1)).toEqual({ kind: 'stored' });
      expect(await f.a.storeResponse(answer('c', 'r'), T0 + 2)).toEqual({ kind: 'duplicate' });
      expect(await f.a.outstanding()).toBe(1);
      const both = await Promise.all([f.a.retrieve('c', 'r', T0 + 3), f.b.retrieve('c', 'r', T0 + 3)]);
      expect(both.filter((result) => result.kind === 'response')).toEqual([{ kind: 'response', envelope: answer('c', 'r') }]);
      expect(both.filter((result) => result.kind === 'unknown')).toHaveLength(1);
      expect(await f.b.storeResponse(answer('c', 'r'), T0 + 4)).toEqual({ kind: 'gone', status: 'completed' });
      expect(await f.b.storeResponse(answer('c', 'never'), T0 + 4)).toEqual({ kind: 'gone', status: 'gone' });
      expect(await f.a.outstanding()).toBe(0);
      expect(f.events.terminal).toEqual([['completed', 'completed']]);
    });

    it('retrieves the oldest answer of a client when no request id is given', async () => {
      const f = await withNode(3);
      for (const id of ['r1', 'r2']) await f.a.enqueue(work('node-key', 'c', id), 10, T0);
      await f.a.enqueue(work('node-key', 'other', 'r3'), 10, T0);
      for (let i = 0; i < 3; i++) await f.a.claim('node-key', TTL, T0);
      await f.a.storeResponse(answer('c', 'r2'), T0);
      await f.a.storeResponse(answer('other', 'r3'), T0);
      await f.b.storeResponse(answer('c', 'r1'), T0 + 1);
      expect(await f.b.retrieve('c', undefined, T0 + 2)).toEqual({ kind: 'response', envelope: answer('c', 'r2') });
      expect(await f.a.retrieve('c', undefined, T0 + 2)).toEqual({ kind: 'response', envelope: answer('c', 'r1') });
      expect(await f.a.retrieve('c', undefined, T0 + 2)).toEqual({ kind: 'unknown' });
    });

    it('keeps the latest progress of an in-flight request for the client, once', async () => {
      const f = await dispatched();
      const progress = { ciphertext: 'p1', cipherkey: 'k', iv: 'i' };
      expect(await f.a.storeProgress('node-key', 'b'.repeat(64), 'c', 'r', progress, T0)).toBe('forbidden');
      expect(await f.a.storeProgress('node-key', DIGEST, 'someone-else', 'r', progress, T0)).toBe('inactive');
      expect(await f.a.storeProgress('node-key', DIGEST, 'c', 'r', progress, T0)).toBe('accepted');
      expect(await f.b.storeProgress('node-key', DIGEST, 'c', 'r', { ...progress, ciphertext: 'p2' }, T0)).toBe('replaced');
      expect(await f.a.retrieve('c', 'r', T0)).toEqual({
        kind: 'pending',
        deadline: T0 + 480_000,
        progress: { ...progress, ciphertext: 'p2' },
      });
      expect(await f.b.retrieve('c', 'r', T0)).toEqual({ kind: 'pending', deadline: T0 + 480_000, progress: undefined });
      expect(await f.b.storeProgress('node-key', DIGEST, 'c', 'r', progress, T0 + 480_000)).toBe('expired');
    });

    it('cancels with the cancel token: a queued request leaves the queue, an in-flight one leaves a tombstone until acknowledged', async () => {
      const f = await dispatched(1);
      await f.a.enqueue(work('node-key', 'c', 'queued'), 10, T0);
      expect(await f.b.cancel('c', 'queued', 'wrong', 'cancelled', 'client_cancelled', T0)).toEqual({ kind: 'forbidden' });
      expect(await f.b.cancel('c', 'queued', 42, 'cancelled', 'client_cancelled', T0)).toEqual({ kind: 'forbidden' });
      expect(await f.b.cancel('c', 'queued', 'cancel-queued', 'cancelled', 'client_cancelled', T0)).toEqual({
        kind: 'cancelled',
        removedFromQueue: 1,
      });
      expect(await f.b.cancel('c', 'r', 'cancel-r', 'cancelled', 'client_cancelled', T0)).toEqual({
        kind: 'cancelled',
        removedFromQueue: 0,
      });
      expect(await f.a.cancel('c', 'r', 'cancel-r', 'cancelled', 'client_cancelled', T0)).toEqual({ kind: 'forbidden' });
      expect(await f.a.listNodes(T0)).toEqual([expect.objectContaining({ queueDepth: 0, inFlight: 0 })]);
      expect(await f.a.control('node-key', 'r', 'b'.repeat(64), false, TTL, T0)).toEqual({ kind: 'forbidden' });
      expect(await f.a.control('node-key', 'r', DIGEST, false, TTL, T0)).toEqual({
        kind: 'terminal',
        status: 'cancelled',
        deadline: T0 + 480_000,
      });
      expect(await f.b.control('node-key', 'r', DIGEST, true, TTL, T0)).toEqual({
        kind: 'terminal',
        status: 'cancelled',
        deadline: T0 + 480_000,
      });
      expect(await f.a.control('node-key', 'r', DIGEST, false, TTL, T0)).toEqual({ kind: 'unavailable' });
      expect(await f.a.control('node-key', 'queued', DIGEST, false, TTL, T0)).toEqual({ kind: 'unavailable' });
      expect(await f.a.storeResponse(answer('c', 'r'), T0)).toEqual({ kind: 'gone', status: 'cancelled' });
      expect(await f.b.retrieve('c', 'r', T0)).toEqual({ kind: 'terminal', status: 'cancelled', reason: 'client_cancelled' });
      expect(f.events.terminal).toEqual([
        ['cancelled', 'client_cancelled'],
        ['cancelled', 'client_cancelled'],
      ]);
    });

    it('answers control on an in-flight request past its deadline as expired', async () => {
      const f = await dispatched();
      expect(await f.b.control('node-key', 'r', DIGEST, false, TTL, T0 + 480_000)).toEqual({
        kind: 'terminal',
        status: 'expired',
        deadline: T0 + 480_000,
      });
      expect(await f.a.retrieve('c', 'r', T0 + 480_000)).toEqual({
        kind: 'terminal',
        status: 'expired',
        reason: 'provider_timeout',
      });
    });
  });

  describe("expiry by the caller's clock", () => {
    it('sweeps requests past their deadline, then forgets terminal records, answers and tombstones after their TTL', async () => {
      const f = await withNode(2);
      await f.a.enqueue(work('node-key', 'c', 'queued', { deadline: T0 + 1000 }), 10, T0);
      await f.a.enqueue(work('node-key', 'c', 'flying', { deadline: T0 + 1000 }), 10, T0);
      await f.a.enqueue(work('node-key', 'c', 'answered'), 10, T0);
      await f.a.claim('node-key', TTL, T0);
      await f.a.claim('node-key', TTL, T0);
      // 'queued' and 'flying' are in flight; 'queued' is answered, then 'answered' is claimed and answered.
      await f.a.storeResponse(answer('c', 'queued'), T0);
      await f.a.claim('node-key', TTL, T0);
      await f.a.storeResponse(answer('c', 'answered'), T0);
      expect(await f.b.outstanding()).toBe(3);
      await f.b.sweep(T0 + 999);
      expect(await f.b.outstanding()).toBe(3);
      await f.b.sweep(T0 + 1000);
      expect(await f.a.retrieve('c', 'flying', T0 + 1000)).toEqual({
        kind: 'terminal',
        status: 'expired',
        reason: 'pending_request_ttl_exceeded',
      });
      expect(await f.a.control('node-key', 'flying', DIGEST, false, TTL, T0 + 1000)).toMatchObject({
        kind: 'terminal',
        status: 'expired',
      });
      expect(await f.a.control('node-key', 'flying', DIGEST, false, TTL, T0 + 1000 + TOMBSTONE_TTL_MS)).toEqual({
        kind: 'unavailable',
      });
      expect(await f.a.outstanding()).toBe(2);
      await f.a.sweep(T0 + TERMINAL_TTL_MS + 1000);
      expect(await f.a.outstanding()).toBe(0);
      expect(await f.a.retrieve('c', 'answered', T0 + TERMINAL_TTL_MS + 1000)).toEqual({ kind: 'unknown' });
      expect(await f.a.retrieve('c', 'flying', T0 + TERMINAL_TTL_MS + 1000)).toEqual({ kind: 'unknown' });
    });

    it('evicts a node whose lease ran out, unless it holds a poll or has work in flight', async () => {
      const f = await withNode(1);
      await f.a.registerNode({ publicKey: 'busy', capabilities: capabilities(), leaseSeconds: 30, credentialDigest: DIGEST }, T0);
      await f.a.registerNode(
        { publicKey: 'polling', capabilities: capabilities(), leaseSeconds: 30, credentialDigest: DIGEST },
        T0,
      );
      await f.a.touchNode('polling', { leaseSeconds: 30, pollingUntil: T0 + 60_000 }, T0);
      await f.a.enqueue(work('busy', 'c', 'r'), 10, T0);
      await f.a.claim('busy', 120_000, T0);
      await f.b.sweep(T0 + 30_000);
      expect((await f.a.listNodes(T0 + 30_000)).map((node) => node.publicKey)).toEqual(['node-key', 'busy', 'polling']);
      await Promise.all([f.a.sweep(T0 + 30_001), f.b.sweep(T0 + 30_001)]);
      expect((await f.a.listNodes(T0 + 30_001)).map((node) => node.publicKey)).toEqual(['busy', 'polling']);
      expect(f.events.evicted).toEqual(['stale_lease']);
    });
  });

  describe('waiting for work', () => {
    it('wakes a waiting poll when work is enqueued through another replica', async () => {
      const f = await withNode();
      expect(await f.a.claim('node-key', TTL, T0)).toEqual({ kind: 'none' });
      const started = performance.now();
      const waiting = f.a.waitForWork('node-key', 5000, new AbortController().signal);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await f.b.enqueue(work('node-key', 'c', 'r'), 10, T0);
      await waiting;
      expect(performance.now() - started).toBeLessThan(1000);
      expect(await f.a.claim('node-key', TTL, T0)).toMatchObject({ kind: 'work' });
    });

    it('ends a wait on abort and on wakeAll', async () => {
      const f = await withNode();
      const controller = new AbortController();
      const aborted = f.a.waitForWork('node-key', 5000, controller.signal);
      controller.abort();
      await aborted;
      const woken = f.a.waitForWork('node-key', 5000, new AbortController().signal);
      f.a.wakeAll();
      await woken;
    });
  });
});
