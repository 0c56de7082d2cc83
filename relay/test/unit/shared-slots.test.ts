/**
 * Admission with slots from a shared store (several replicas, one GPU budget): a fake store with
 * the Redis store's contract stands in, answering on a later tick as a network round trip would.
 */
import { describe, expect, it } from 'vitest';
import { Admission, AdmissionRejection, type Admitted } from '../../src/admission.ts';
import { publicUpstream } from '../../src/config.ts';
import type { PoolMember } from '../../src/pool.ts';
import { SharedSlots, type SlotCandidate, type SlotLeaseStore } from '../../src/slots.ts';
import { StoreUnavailableError } from '../../src/tokenplace/store.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { staticPool } from '../helpers/static-pool.ts';

class FakeLeases implements SlotLeaseStore {
  readonly held = new Map<string, number>();
  readonly listeners: (() => void)[] = [];
  down = false;
  calls = 0;

  async acquire(candidates: readonly SlotCandidate[]): Promise<number> {
    this.calls++;
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.down) throw new StoreUnavailableError('store down');
    let best = -1;
    let bestLoad = Number.POSITIVE_INFINITY;
    candidates.forEach((candidate, i) => {
      const load = (this.held.get(candidate.key) ?? 0) / candidate.capacity;
      if (load < 1 && load < bestLoad) [best, bestLoad] = [i, load];
    });
    if (best >= 0) this.held.set(candidates[best].key, (this.held.get(candidates[best].key) ?? 0) + 1);
    return best;
  }

  release(key: string): void {
    this.held.set(key, (this.held.get(key) ?? 0) - 1);
    setTimeout(() => {
      for (const listener of this.listeners) listener();
    }, 1);
  }

  onFreed(listener: () => void): void {
    this.listeners.push(listener);
  }
}

function replica(store: SlotLeaseStore, maxConcurrency: number, queueLength = 10) {
  const clock = new FakeClock();
  const pool = staticPool(maxConcurrency, clock);
  const rejected: string[] = [];
  const admission = new Admission(pool, {
    queueLength,
    queueTimeoutMs: 10_000,
    clock,
    slots: new SharedSlots(pool, store),
    observer: { waited: () => undefined, rejected: (reason) => rejected.push(reason) },
  });
  return { admission, pool, clock, rejected };
}

const GPU = publicUpstream(new URL('http://gpu-server:8000'));
const signal = () => new AbortController().signal;
const admitted = async (value: Admitted | Promise<Admitted>) => await value;
/** Admits, noting the label in order when the admission settles. */
const noted = (order: unknown[], label: unknown, value: Admitted | Promise<Admitted>) =>
  admitted(value).then((outcome) => {
    order.push(label);
    return outcome;
  });
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(check()).toBe(true);
};

describe('Admission with a shared slot store', () => {
  it('two replicas admit no more than the member capacity between them; a slot freed on one admits a waiter on the other', async () => {
    const store = new FakeLeases();
    const a = replica(store, 2);
    const b = replica(store, 2);
    const first = await admitted(a.admission.admit(signal()));
    const second = await admitted(b.admission.admit(signal()));
    expect(first).not.toBeInstanceOf(AdmissionRejection);
    expect(second).not.toBeInstanceOf(AdmissionRejection);
    const order: string[] = [];
    const waitingB = noted(order, 'b', b.admission.admit(signal()));
    await until(() => b.admission.depth === 1);
    const waitingA = noted(order, 'a', a.admission.admit(signal()));
    await until(() => a.admission.depth === 1);
    expect(store.held.get(GPU)).toBe(2);

    a.admission.release(first as PoolMember);
    await until(() => order.length === 1);
    // Whichever replica asks first gets it; the other keeps waiting until the next slot frees.
    expect(store.held.get(GPU)).toBe(2);
    b.admission.release(second as PoolMember);
    const [fromB, fromA] = await Promise.all([waitingB, waitingA]);
    expect(fromB).not.toBeInstanceOf(AdmissionRejection);
    expect(fromA).not.toBeInstanceOf(AdmissionRejection);
    expect(order.sort()).toEqual(['a', 'b']);
  });

  it('keeps arrival order among the waiters of one replica', async () => {
    const store = new FakeLeases();
    const { admission } = replica(store, 1);
    const holder = (await admitted(admission.admit(signal()))) as PoolMember;
    const order: number[] = [];
    const waiting = [0, 1, 2].map((i) => noted(order, i, admission.admit(signal())));
    await until(() => admission.depth === 3);
    admission.release(holder);
    const next = (await waiting[0]) as PoolMember;
    admission.release(next);
    const last = (await waiting[1]) as PoolMember;
    admission.release(last);
    admission.release((await waiting[2]) as PoolMember);
    expect(order).toEqual([0, 1, 2]);
  });

  it('answers state_unavailable when the store cannot be reached, to newcomers and to everyone waiting', async () => {
    const store = new FakeLeases();
    const { admission, rejected } = replica(store, 1);
    const holder = (await admitted(admission.admit(signal()))) as PoolMember;
    const waiting = [admitted(admission.admit(signal())), admitted(admission.admit(signal()))];
    await until(() => admission.depth === 2);
    store.down = true;
    admission.release(holder);
    for (const outcome of await Promise.all(waiting)) {
      expect(outcome).toBeInstanceOf(AdmissionRejection);
      expect((outcome as AdmissionRejection).reason).toBe('state_unavailable');
    }
    const newcomer = (await admitted(admission.admit(signal()))) as AdmissionRejection;
    expect(newcomer.reason).toBe('state_unavailable');
    expect(newcomer.retryAfterSeconds).toBe(1);
    expect(rejected).toEqual(['state_unavailable', 'state_unavailable', 'state_unavailable']);
    store.down = false;
    expect(await admitted(admission.admit(signal()))).not.toBeInstanceOf(AdmissionRejection);
  });

  it('gives the slot back when the client left while the store answered', async () => {
    const store = new FakeLeases();
    const { admission, pool } = replica(store, 1);
    const controller = new AbortController();
    const pending = admission.admit(controller.signal);
    controller.abort();
    expect(((await admitted(pending)) as AdmissionRejection).reason).toBe('client_closed');
    expect(store.held.get(GPU)).toBe(0);
    expect((pool.static as PoolMember).inFlight).toBe(0);
  });

  it('asks the store nothing for a member without a limit', async () => {
    const store = new FakeLeases();
    const { admission } = replica(store, 0);
    const member = admission.admit(signal());
    expect(member).not.toBeInstanceOf(Promise);
    admission.release(member as PoolMember);
    expect(store.calls).toBe(0);
  });
});
