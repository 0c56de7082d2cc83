/**
 * Slots on the upstream pool's members: who may send a request to which GPU host now.
 *
 * With one replica the pool counts them itself (LocalSlots, synchronous, no allocation). With
 * several replicas sharing a state store, a member's capacity is one budget for all of them:
 * SharedSlots asks the store for a lease on a slot (SlotLeaseStore, asynchronous), so the GPU host
 * never sees more than its capacity however many replicas forward to it. A lease lapses unless
 * renewed, so a replica that dies holding slots cannot keep them.
 */
import type { PoolMember, UpstreamPool } from './pool.ts';

/** A slot now, none free now, or (shared budget) the store's answer later. */
export type Taken = PoolMember | undefined | Promise<PoolMember | undefined>;

export interface Slots {
  readonly pool: UpstreamPool;
  /** True when slots come from a shared store: take may then return a promise that rejects when the store is unreachable. */
  readonly shared: boolean;
  /** A slot on the best member with one free (exclude: a member just tried). */
  take(exclude?: PoolMember): Taken;
  /** A slot on this very member, if it is still in the pool and has one free. */
  takeOn(member: PoolMember): Taken;
  give(member: PoolMember): void;
  /** Calls listener when slots may have been freed elsewhere (another replica, a lapsed lease). */
  onFreed(listener: () => void): void;
}

/** The pool's own counts: the budget of one replica. */
export class LocalSlots implements Slots {
  readonly pool: UpstreamPool;
  readonly shared = false;

  constructor(pool: UpstreamPool) {
    this.pool = pool;
  }

  take(exclude?: PoolMember): PoolMember | undefined {
    return this.pool.acquire(exclude);
  }

  takeOn(member: PoolMember): PoolMember | undefined {
    return this.pool.acquireOn(member);
  }

  give(member: PoolMember): void {
    this.pool.release(member);
  }

  onFreed(): void {
    // Slots are freed only here, by give.
  }
}

export interface SlotCandidate {
  /** The member's public URL (no credentials): the same GPU host has the same key on every replica. */
  key: string;
  capacity: number;
}

/** Leases on slots, held in a store every replica shares (relay/node/redis-store/slot-leases.ts). */
export interface SlotLeaseStore {
  /**
   * Takes a lease on one slot of the candidate with the lowest load across all replicas (ties: the
   * first); resolves its index, or -1 when every candidate is full. Rejects with
   * StoreUnavailableError when the store cannot be reached.
   */
  acquire(candidates: readonly SlotCandidate[]): Promise<number>;
  /** Gives back one lease this replica holds under key; never throws (a lease not given back lapses). */
  release(key: string): void;
  onFreed(listener: () => void): void;
}

/** One budget per member across every replica: the pool picks the candidates, the store decides. */
export class SharedSlots implements Slots {
  readonly pool: UpstreamPool;
  readonly shared = true;
  readonly #store: SlotLeaseStore;

  constructor(pool: UpstreamPool, store: SlotLeaseStore) {
    this.pool = pool;
    this.#store = store;
  }

  take(exclude?: PoolMember): Taken {
    return this.#lease(this.pool.candidates(exclude));
  }

  takeOn(member: PoolMember): Taken {
    if (member.removed || member.inFlight >= member.capacity) return undefined;
    return this.#lease([member]);
  }

  #lease(candidates: PoolMember[]): Taken {
    if (candidates.length === 0) return undefined;
    // A member without a limit needs no lease.
    for (const member of candidates) {
      if (member.capacity === Number.POSITIVE_INFINITY) return this.pool.take(member);
    }
    const wanted = candidates.map((member) => ({ key: member.publicUrl, capacity: member.capacity }));
    return this.#store.acquire(wanted).then((index) => (index < 0 ? undefined : this.pool.take(candidates[index])));
  }

  give(member: PoolMember): void {
    this.pool.release(member);
    // Also when the member has no limit now: it may have had one when the slot was taken.
    this.#store.release(member.publicUrl);
  }

  onFreed(listener: () => void): void {
    this.#store.onFreed(listener);
  }
}
