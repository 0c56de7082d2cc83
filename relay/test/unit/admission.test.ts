import { describe, expect, it } from 'vitest';
import { Admission, AdmissionRejection, type Admitted, type WaitOutcome } from '../../src/admission.ts';
import type { PoolMember } from '../../src/pool.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { staticPool } from '../helpers/static-pool.ts';

function setup(maxConcurrency: number, queueLength: number, queueTimeoutMs = 1000) {
  const clock = new FakeClock();
  const pool = staticPool(maxConcurrency, clock);
  const waits: { seconds: number; outcome: WaitOutcome }[] = [];
  const rejected: string[] = [];
  const admission = new Admission(pool, {
    queueLength,
    queueTimeoutMs,
    clock,
    observer: {
      waited: (seconds, outcome) => waits.push({ seconds, outcome }),
      rejected: (reason) => rejected.push(reason),
    },
  });
  return { clock, pool, admission, waits, rejected };
}

const signal = () => new AbortController().signal;
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Tracks a queued admission's outcome as it settles. */
function track(admitted: Admitted | Promise<Admitted>) {
  const state: { value?: Admitted } = {};
  if (admitted instanceof Promise) void admitted.then((value) => (state.value = value));
  else state.value = admitted;
  return state;
}

describe('Admission', () => {
  it('admits at once while slots are free, with no promise', () => {
    const { admission } = setup(2, 4);
    const first = admission.admit(signal());
    expect(first).not.toBeInstanceOf(Promise);
    expect((first as PoolMember).id).toBe('static');
    expect(admission.admit(signal())).not.toBeInstanceOf(Promise);
    expect(admission.admit(signal())).toBeInstanceOf(Promise);
    expect(admission.depth).toBe(1);
  });

  it('hands freed slots to waiters in arrival order', async () => {
    const { admission, pool } = setup(1, 10);
    const holder = admission.admit(signal()) as PoolMember;
    const order: number[] = [];
    const waiting = [0, 1, 2].map((i) => (admission.admit(signal()) as Promise<Admitted>).then(() => order.push(i)));
    expect(admission.depth).toBe(3);
    admission.release(holder);
    await settle();
    expect(order).toEqual([0]);
    expect((pool.static as PoolMember).inFlight).toBe(1);
    admission.release(pool.static as PoolMember);
    admission.release(pool.static as PoolMember);
    await Promise.all(waiting);
    expect(order).toEqual([0, 1, 2]);
    expect(admission.depth).toBe(0);
  });

  it('does not let a newcomer overtake the queue', async () => {
    const { admission, pool } = setup(1, 10);
    const holder = admission.admit(signal()) as PoolMember;
    const queued = track(admission.admit(signal()));
    // A slot frees and goes straight to the waiter; the newcomer queues behind it.
    admission.release(holder);
    const newcomer = admission.admit(signal());
    expect(newcomer).toBeInstanceOf(Promise);
    await settle();
    expect(queued.value).toBe(pool.static as PoolMember);
  });

  it('rejects with queue_full at once when the queue is full, and with 0 length never queues', () => {
    const { admission, rejected } = setup(1, 1);
    admission.admit(signal());
    expect(admission.admit(signal())).toBeInstanceOf(Promise);
    const full = admission.admit(signal());
    expect(full).toBeInstanceOf(AdmissionRejection);
    expect(full).toMatchObject({ reason: 'queue_full', retryAfterSeconds: 1 });
    expect(rejected).toEqual(['queue_full']);

    const none = setup(1, 0).admission;
    none.admit(signal());
    expect(none.admit(signal())).toMatchObject({ reason: 'queue_full' });
  });

  it('times waiters out in order with one timer, counting the wait', async () => {
    const { admission, clock, waits, rejected } = setup(1, 10, 1000);
    admission.admit(signal());
    const a = track(admission.admit(signal()));
    clock.advance(400);
    const b = track(admission.admit(signal()));
    expect(clock.pendingTimers).toBe(1);
    clock.advance(600);
    await settle();
    expect(a.value).toMatchObject({ reason: 'queue_timeout', retryAfterSeconds: 1 });
    expect(b.value).toBeUndefined();
    clock.advance(399);
    await settle();
    expect(b.value).toBeUndefined();
    clock.advance(1);
    await settle();
    expect(b.value).toMatchObject({ reason: 'queue_timeout' });
    expect(waits).toEqual([
      { seconds: 1, outcome: 'timeout' },
      { seconds: 1, outcome: 'timeout' },
    ]);
    expect(rejected).toEqual(['queue_timeout', 'queue_timeout']);
    expect(admission.depth).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('lets a client that disconnects leave the queue; its place is never served', async () => {
    const { admission, pool, waits } = setup(1, 10);
    const holder = admission.admit(signal()) as PoolMember;
    const leaving = new AbortController();
    const gone = track(admission.admit(leaving.signal));
    const stays = track(admission.admit(signal()));
    expect(admission.depth).toBe(2);
    leaving.abort();
    await settle();
    expect(gone.value).toMatchObject({ reason: 'client_closed' });
    expect(admission.depth).toBe(1);
    expect(waits[0].outcome).toBe('abandoned');
    admission.release(holder);
    await settle();
    expect(stays.value).toBe(pool.static as PoolMember);
    expect((pool.static as PoolMember).inFlight).toBe(1);
  });

  it('gives waiters capacity that appears with a new member', async () => {
    const { admission, pool, clock } = setup(1, 10);
    admission.admit(signal());
    const waiting = track(admission.admit(signal()));
    pool.upsert({ id: 'n1', url: 'http://10.0.0.9:8000', name: 'n1', maxConcurrency: 1, expiresAt: clock.now() + 60_000 });
    admission.dispatch();
    await settle();
    expect((waiting.value as PoolMember).id).toBe('n1');
  });

  it('keeps order and serves the right waiters when many leave from the middle', async () => {
    const { admission, pool } = setup(1, 4);
    const holder = admission.admit(signal()) as PoolMember;
    const first = track(admission.admit(signal()));
    for (let i = 0; i < 1000; i++) {
      const controller = new AbortController();
      admission.admit(controller.signal);
      controller.abort();
    }
    const last = track(admission.admit(signal()));
    expect(admission.depth).toBe(2);
    admission.release(holder);
    await settle();
    expect(first.value).toBe(pool.static as PoolMember);
    expect(last.value).toBeUndefined();
    admission.release(pool.static as PoolMember);
    await settle();
    expect(last.value).toBe(pool.static as PoolMember);
    expect(admission.depth).toBe(0);
  });
});
