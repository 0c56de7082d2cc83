/**
 * Admission control in front of the pool: a request either takes a free slot at once, waits in
 * a bounded FIFO queue for one, or is turned away with 503 before the GPU host sees it.
 *
 * The common case (queue empty, a slot free) allocates nothing. Waiting requests share one
 * timer: they all wait at most the same time, so deadlines expire in queue order and only the
 * head's deadline needs a timer.
 */
import type { Clock } from './clock.ts';
import type { PoolMember, UpstreamPool } from './pool.ts';

export type RejectionReason = 'queue_full' | 'queue_timeout' | 'client_closed';

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

export type WaitOutcome = 'admitted' | 'timeout' | 'abandoned';

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
  readonly #options: AdmissionOptions;
  readonly #full: AdmissionRejection;
  readonly #expired: AdmissionRejection;
  readonly #gone: AdmissionRejection;
  #head: Waiter | undefined;
  #tail: Waiter | undefined;
  #live = 0;
  #timer: unknown;
  #timerDeadline = 0;

  constructor(pool: UpstreamPool, options: AdmissionOptions) {
    this.#pool = pool;
    this.#options = options;
    const retryAfter = Math.min(60, Math.max(1, Math.ceil(options.queueTimeoutMs / 1000)));
    this.#full = new AdmissionRejection('queue_full', retryAfter);
    this.#expired = new AdmissionRejection('queue_timeout', retryAfter);
    this.#gone = new AdmissionRejection('client_closed', retryAfter);
  }

  /** Requests waiting now. */
  get depth(): number {
    return this.#live;
  }

  get pool(): UpstreamPool {
    return this.#pool;
  }

  /**
   * A slot at once (a member), a rejection at once, or a promise of either when the request
   * has to wait. Nobody overtakes the queue: while anyone waits, a newcomer waits too.
   */
  admit(signal: AbortSignal): Admitted | Promise<Admitted> {
    if (this.#live === 0) {
      const member = this.#pool.acquire();
      if (member !== undefined) return member;
    }
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
    this.#pool.release(member);
    if (this.#live !== 0) this.dispatch();
  }

  /** Hands free slots to waiters in order; call when capacity may have appeared (release, new member). */
  dispatch(): void {
    for (let waiter = this.#head; waiter !== undefined; waiter = this.#head) {
      const member = this.#pool.acquire();
      if (member === undefined) return;
      this.#leave(waiter);
      this.#options.observer?.waited((this.#options.clock.now() - waiter.enqueuedAt) / 1000, 'admitted');
      waiter.resolve(member);
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
