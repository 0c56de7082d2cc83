/**
 * Admission control in front of the pool: a request either takes a free slot at once, waits in
 * a bounded FIFO queue for one, or is turned away with 503 before the GPU host sees it.
 *
 * The common case (queue empty, a slot free) allocates nothing. Waiting requests share one
 * timer: they all wait at most the same time, so deadlines expire in queue order and only the
 * head's deadline needs a timer.
 *
 * Slots come from the pool (one replica) or, when replicas share a state store, from leases in
 * that store (slots.ts): then taking a slot is asynchronous, and one dispatch runs at a time. The
 * queue stays per replica and FIFO; across replicas, whichever asks first after a slot frees wins.
 */
import type { Clock } from './clock.ts';
import type { PoolMember, UpstreamPool } from './pool.ts';
import { LocalSlots, type Slots, type Taken } from './slots.ts';

export type RejectionReason = 'queue_full' | 'queue_timeout' | 'state_unavailable' | 'client_closed';

/** Why a request was not admitted. A plain value, never thrown. */
export class AdmissionRejection {
  readonly reason: RejectionReason;
  readonly retryAfterSeconds: number;
  constructor(reason: RejectionReason, retryAfterSeconds: number) {
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
    Object.freeze(this);
  }
}

export type WaitOutcome = 'admitted' | 'timeout' | 'abandoned' | 'unavailable';

/** What the queue reports; the runtime turns it into metrics. */
export interface AdmissionObserver {
  waited(seconds: number, outcome: WaitOutcome): void;
  rejected(reason: Exclude<RejectionReason, 'client_closed'>): void;
}

export interface AdmissionOptions {
  queueLength: number;
  queueTimeoutMs: number;
  clock: Clock;
  observer?: AdmissionObserver;
  /** Where slots come from; default: the pool's own counts (this replica's budget). */
  slots?: Slots;
}

/** A queued request: a node of a doubly linked list, so leaving from the middle costs O(1). */
interface Waiter {
  resolve(outcome: PoolMember | AdmissionRejection): void;
  signal: AbortSignal;
  onAbort: () => void;
  enqueuedAt: number;
  deadline: number;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

export type Admitted = PoolMember | AdmissionRejection;

export class Admission {
  readonly #pool: UpstreamPool;
  readonly #slots: Slots;
  readonly #options: AdmissionOptions;
  readonly #full: AdmissionRejection;
  readonly #expired: AdmissionRejection;
  readonly #gone: AdmissionRejection;
  readonly #unavailable: AdmissionRejection;
  /** A shared store is being asked for a slot for the queue's head. */
  #dispatching = false;
  /** Capacity may have appeared while #dispatching: ask again before giving up. */
  #again = false;
  #head: Waiter | undefined;
  #tail: Waiter | undefined;
  #live = 0;
  #timer: unknown;
  #timerDeadline = 0;

  constructor(pool: UpstreamPool, options: AdmissionOptions) {
    this.#pool = pool;
    this.#slots = options.slots ?? new LocalSlots(pool);
    this.#options = options;
    const retryAfter = Math.min(60, Math.max(1, Math.ceil(options.queueTimeoutMs / 1000)));
    this.#full = new AdmissionRejection('queue_full', retryAfter);
    this.#expired = new AdmissionRejection('queue_timeout', retryAfter);
    this.#gone = new AdmissionRejection('client_closed', retryAfter);
    this.#unavailable = new AdmissionRejection('state_unavailable', 1);
    this.#slots.onFreed(() => {
      if (this.#live !== 0) this.dispatch();
    });
  }

  /** Requests waiting now. */
  get depth(): number {
    return this.#live;
  }

  get pool(): UpstreamPool {
    return this.#pool;
  }

  get slots(): Slots {
    return this.#slots;
  }

  /**
   * A slot at once (a member), a rejection at once, or a promise of either when the request
   * has to wait. Nobody overtakes the queue: while anyone waits, a newcomer waits too.
   */
  admit(signal: AbortSignal): Admitted | Promise<Admitted> {
    if (this.#live === 0) {
      const member = this.#slots.take();
      if (member instanceof Promise) return this.#admitLater(member, signal);
      if (member !== undefined) return member;
    }
    return this.#queue(signal);
  }

  /** The shared store's answer for a newcomer: its slot, or the queue as if none had been free. */
  async #admitLater(taken: Promise<PoolMember | undefined>, signal: AbortSignal): Promise<Admitted> {
    let member: PoolMember | undefined;
    try {
      member = await taken;
    } catch {
      this.#options.observer?.rejected('state_unavailable');
      return this.#unavailable;
    }
    if (member === undefined) return this.#queue(signal);
    if (!signal.aborted) return member;
    this.release(member);
    return this.#gone;
  }

  #queue(signal: AbortSignal): Admitted | Promise<Admitted> {
    if (this.#live >= this.#options.queueLength) {
      this.#options.observer?.rejected('queue_full');
      return this.#full;
    }
    if (signal.aborted) return this.#gone;
    return this.#enqueue(signal);
  }

  #enqueue(signal: AbortSignal): Promise<Admitted> {
    const enqueuedAt = this.#options.clock.now();
    return new Promise<Admitted>((resolve) => {
      const waiter: Waiter = {
        resolve,
        signal,
        onAbort: () => {
          this.#leave(waiter);
          this.#options.observer?.waited((this.#options.clock.now() - waiter.enqueuedAt) / 1000, 'abandoned');
          resolve(this.#gone);
        },
        enqueuedAt,
        deadline: enqueuedAt + this.#options.queueTimeoutMs,
        prev: this.#tail,
        next: undefined,
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      if (this.#tail === undefined) this.#head = waiter;
      else this.#tail.next = waiter;
      this.#tail = waiter;
      this.#live++;
      if (this.#timer === undefined) this.#schedule(waiter.deadline, enqueuedAt);
    });
  }

  /** Unlinks a waiter (from anywhere in the queue) and stops listening for its client. */
  #leave(waiter: Waiter): void {
    waiter.signal.removeEventListener('abort', waiter.onAbort);
    if (waiter.prev === undefined) this.#head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.#tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = undefined;
    waiter.next = undefined;
    this.#live--;
    if (this.#live === 0) this.#cancelTimer();
  }

  /** A request finished with its slot on member: the slot goes to the next waiter, if any. */
  release(member: PoolMember): void {
    this.#slots.give(member);
    if (this.#live !== 0) this.dispatch();
  }

  /** Hands free slots to waiters in order; call when capacity may have appeared (release, new member). */
  dispatch(): void {
    if (this.#dispatching) {
      this.#again = true;
      return;
    }
    while (this.#head !== undefined) {
      const member = this.#slots.take();
      if (member instanceof Promise) {
        void this.#dispatchLater(member);
        return;
      }
      if (member === undefined) return;
      this.#admitHead(member);
    }
  }

  /** Waits for the shared store's slots one at a time, each for whoever heads the queue when it arrives. */
  async #dispatchLater(first: Taken): Promise<void> {
    this.#dispatching = true;
    this.#again = false;
    let taken = first;
    try {
      while (this.#head !== undefined || taken !== undefined) {
        const member = await taken;
        if (member !== undefined) this.#admitHead(member);
        else if (this.#again) this.#again = false;
        else return;
        taken = this.#head === undefined ? undefined : this.#slots.take();
      }
    } catch {
      this.#failAll();
    } finally {
      this.#dispatching = false;
    }
  }

  #admitHead(member: PoolMember): void {
    const waiter = this.#head;
    if (waiter === undefined) {
      // Everyone left while the store answered.
      this.#slots.give(member);
      return;
    }
    this.#leave(waiter);
    this.#options.observer?.waited((this.#options.clock.now() - waiter.enqueuedAt) / 1000, 'admitted');
    waiter.resolve(member);
  }

  /** The shared store cannot be reached: nobody waiting can be admitted, so all get 503 now. */
  #failAll(): void {
    const now = this.#options.clock.now();
    for (let waiter = this.#head; waiter !== undefined; waiter = this.#head) {
      this.#leave(waiter);
      this.#options.observer?.waited((now - waiter.enqueuedAt) / 1000, 'unavailable');
      this.#options.observer?.rejected('state_unavailable');
      waiter.resolve(this.#unavailable);
    }
  }

  #schedule(deadline: number, now: number): void {
    this.#timerDeadline = deadline;
    this.#timer = this.#options.clock.setTimeout(() => this.#expire(), Math.max(0, deadline - now));
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #expire(): void {
    this.#timer = undefined;
    const now = this.#options.clock.now();
    for (let waiter = this.#head; waiter !== undefined; waiter = this.#head) {
      if (waiter.deadline > now) {
        this.#schedule(waiter.deadline, now);
        return;
      }
      this.#leave(waiter);
      this.#options.observer?.waited((now - waiter.enqueuedAt) / 1000, 'timeout');
      this.#options.observer?.rejected('queue_timeout');
      waiter.resolve(this.#expired);
    }
  }

  /** For tests and the listing: when the queue's timer is due (0 when none is set). */
  get nextDeadline(): number {
    return this.#timer === undefined ? 0 : this.#timerDeadline;
  }
}
