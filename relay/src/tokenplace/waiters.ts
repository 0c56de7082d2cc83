/**
 * Long polls waiting for a node's work, by key: a wait ends when the key is notified, after its
 * time, or when its signal aborts. Both stores use it: the in-memory one notifies from its own
 * transitions, the shared one from the messages other replicas publish.
 */
import type { Clock } from '../clock.ts';

type Waiter = () => void;

export class Waiters {
  readonly #byKey = new Map<string, Set<Waiter>>();
  readonly #clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;

  constructor(clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>) {
    this.#clock = clock;
  }

  wait(key: string, ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.#byKey.get(key);
      if (set === undefined) {
        set = new Set();
        this.#byKey.set(key, set);
      }
      const waiters = set;
      const done = () => {
        this.#clock.clearTimeout(timer);
        signal.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0 && this.#byKey.get(key) === waiters) this.#byKey.delete(key);
        resolve();
      };
      const timer = this.#clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  }

  /** Ends every wait on key; true when there was one. */
  notify(key: string): boolean {
    const waiters = this.#byKey.get(key);
    if (waiters === undefined) return false;
    for (const wake of [...waiters]) wake();
    return true;
  }

  wakeAll(): void {
    for (const key of this.keys()) this.notify(key);
  }

  /** Keys with at least one wait, as a copy (notifying them changes the set). */
  keys(): string[] {
    return [...this.#byKey.keys()];
  }

  /** Keys with at least one wait. */
  get size(): number {
    return this.#byKey.size;
  }
}
