import { describe, expect, it } from 'vitest';
import { type PoolMember, UpstreamPool } from '../../src/pool.ts';
import type { RegisteredServer } from '../../src/registry.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

function setup(maxConcurrency = 2, ejectAfterFailures = 3, ejectBackoffMs = 1000) {
  const clock = new FakeClock();
  const ejections: { id: string; backoffMs: number }[] = [];
  const pool = new UpstreamPool({
    staticUrl: new URL('http://gpu-server:8000'),
    maxConcurrency,
    ejectAfterFailures,
    ejectBackoffMs,
    clock,
    onEject: (member, backoffMs) => ejections.push({ id: member.id, backoffMs }),
  });
  const node = (id: string, max: number, leaseMs = 60_000): RegisteredServer => ({
    id,
    url: `http://10.0.0.${id.length + 1}:8000`,
    name: id,
    maxConcurrency: max,
    expiresAt: clock.now() + leaseMs,
  });
  return { clock, pool, ejections, node };
}

describe('UpstreamPool', () => {
  it('always holds the static upstream and gives it up to its capacity', () => {
    const { pool } = setup(2);
    expect(pool.size).toBe(1);
    const a = pool.acquire();
    const b = pool.acquire();
    expect(a?.id).toBe('static');
    expect(b?.id).toBe('static');
    expect(pool.acquire()).toBeUndefined();
    pool.release(a as PoolMember);
    expect(pool.acquire()?.id).toBe('static');
  });

  it('treats 0 as no limit', () => {
    const { pool } = setup(0);
    for (let i = 0; i < 1000; i++) expect(pool.acquire()).toBeDefined();
    expect((pool.static as PoolMember).inFlight).toBe(1000);
  });

  it('picks the member with the lowest load relative to its capacity', () => {
    const { pool, node } = setup(2);
    pool.upsert(node('big', 8));
    const picks = Array.from({ length: 10 }, () => pool.acquire()?.id);
    // static 2/2 = 1.0 and big 8/8 = 1.0 when full: 2 on static, 8 on big.
    expect(picks.filter((id) => id === 'static')).toHaveLength(2);
    expect(picks.filter((id) => id === 'big')).toHaveLength(8);
    expect(pool.acquire()).toBeUndefined();
    // By relative load: static never takes a second request while big is less than half full.
    expect(picks.indexOf('static', picks.indexOf('static') + 1)).toBeGreaterThanOrEqual(5);
  });

  it('lets equally loaded members take turns', () => {
    const { pool, node } = setup(0);
    pool.upsert(node('b', 0));
    pool.upsert(node('cc', 0));
    const picks = Array.from({ length: 6 }, () => {
      const member = pool.acquire() as PoolMember;
      pool.release(member);
      return member.id;
    });
    expect(picks).toEqual(['static', 'b', 'cc', 'static', 'b', 'cc']);
  });

  it('ejects a member after consecutive connect failures, skips it during the back-off, and doubles the back-off', () => {
    const { pool, node, clock, ejections } = setup(4, 2, 1000);
    const other = pool.upsert(node('b', 4));
    pool.connectFailed(pool.static as PoolMember);
    expect(ejections).toEqual([]);
    pool.connectFailed(pool.static as PoolMember);
    expect(ejections).toEqual([{ id: 'static', backoffMs: 1000 }]);
    for (let i = 0; i < 4; i++) expect(pool.acquire()?.id).toBe('b');
    // b is full and static ejected: nothing free, the request would queue.
    expect(pool.acquire()).toBeUndefined();
    for (let i = 0; i < 4; i++) pool.release(other);
    pool.remove('b');

    clock.advance(1000);
    // Back-off over: static is tried again; one more failure ejects it at once for twice as long.
    expect(pool.acquire()?.id).toBe('static');
    pool.connectFailed(pool.static as PoolMember);
    expect(ejections.at(-1)).toEqual({ id: 'static', backoffMs: 2000 });
    clock.advance(2000);
    pool.succeeded(pool.static as PoolMember);
    expect((pool.static as PoolMember).consecutiveFailures).toBe(0);
    expect((pool.static as PoolMember).ejectedUntil).toBe(0);
    pool.connectFailed(pool.static as PoolMember);
    expect(ejections).toHaveLength(2);
  });

  it('caps the back-off at 60 s', () => {
    const { pool, ejections, clock } = setup(4, 1, 1000);
    for (let i = 0; i < 12; i++) {
      pool.connectFailed(pool.static as PoolMember);
      clock.advance(61_000);
    }
    expect(ejections.map((e) => e.backoffMs)).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000, 60000, 60000,
    ]);
  });

  it('still routes when every member is ejected (passive health never empties the pool)', () => {
    const { pool } = setup(4, 1);
    pool.connectFailed(pool.static as PoolMember);
    expect((pool.static as PoolMember).ejectedUntil).toBeGreaterThan(0);
    expect(pool.acquire()?.id).toBe('static');
  });

  it('drops a registered member whose lease ended and never routes to it', () => {
    const { pool, node, clock } = setup(1);
    pool.upsert(node('short', 4, 5000));
    pool.acquire(); // static full
    expect(pool.acquire()?.id).toBe('short');
    clock.advance(5000);
    expect(pool.acquire()).toBeUndefined();
    expect(pool.members().map((m) => m.id)).toEqual(['static']);
  });

  it('renews, updates and removes members; sync mirrors a registry listing', () => {
    const { pool, node, clock } = setup(2);
    const first = pool.upsert(node('a', 1));
    const again = pool.upsert({ ...node('a', 3), name: 'renamed', expiresAt: clock.now() + 120_000 });
    expect(again).toBe(first);
    expect(first).toMatchObject({ name: 'renamed', capacity: 3 });
    expect(pool.remove('static')).toBe(false);
    expect(pool.remove('a')).toBe(true);
    expect(first.removed).toBe(true);
    pool.sync([node('x', 1), node('yy', 2)]);
    expect(pool.members().map((m) => m.id)).toEqual(['static', 'x', 'yy']);
    pool.sync([node('yy', 2)]);
    expect(pool.members().map((m) => m.id)).toEqual(['static', 'yy']);
  });

  it('acquire(exclude) never returns the excluded member', () => {
    const { pool, node } = setup(4);
    expect(pool.acquire(pool.static as PoolMember)).toBeUndefined();
    pool.upsert(node('b', 4));
    expect(pool.acquire(pool.static as PoolMember)?.id).toBe('b');
  });

  it('snapshots state for the listing', () => {
    const { pool, node, clock } = setup(2, 1, 5000);
    pool.upsert(node('n', 3, 30_000));
    pool.acquire();
    pool.connectFailed(pool.members()[1]);
    clock.advance(1000);
    expect(pool.snapshot()).toEqual([
      {
        id: 'static',
        name: 'static upstream',
        url: 'http://gpu-server:8000',
        static: true,
        maxConcurrency: 2,
        inFlight: 1,
        state: 'healthy',
        consecutiveFailures: 0,
      },
      {
        id: 'n',
        name: 'n',
        url: 'http://10.0.0.2:8000',
        static: false,
        maxConcurrency: 3,
        inFlight: 0,
        state: 'ejected',
        consecutiveFailures: 1,
        ejectedForSeconds: 4,
        leaseExpiresInSeconds: 29,
      },
    ]);
  });

  it('lists the candidates a shared store picks from: usable, with a free slot here, taking turns, ejected only when all are', () => {
    const { pool, clock, node } = setup(1, 1);
    const gpu = pool.upsert(node('gpu', 2));
    const short = pool.upsert(node('short-lease', 2, 1_000));
    expect(pool.candidates().map((m) => m.id)).toEqual(['static', 'gpu', 'short-lease']);
    expect(pool.candidates().map((m) => m.id)).toEqual(['gpu', 'short-lease', 'static']);
    clock.advance(1_000);
    expect(
      pool
        .candidates()
        .map((m) => m.id)
        .sort(),
    ).toEqual(['gpu', 'static']);
    expect(short.removed).toBe(true);
    pool.take(pool.static as PoolMember);
    expect(pool.candidates(gpu).map((m) => m.id)).toEqual([]);
    pool.connectFailed(gpu);
    expect(pool.candidates()).toEqual([]);
    pool.release(pool.static as PoolMember);
    clock.advance(10);
    pool.connectFailed(pool.static as PoolMember);
    // Every member ejected: all are candidates, the one whose back-off ends first leading.
    expect(pool.candidates().map((m) => m.id)).toEqual(['gpu', 'static']);
  });
});
