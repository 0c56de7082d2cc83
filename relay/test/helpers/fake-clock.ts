import type { Clock } from '../../src/clock.ts';

/** A clock the test moves by hand; timers fire in deadline order as time passes them. */
export class FakeClock implements Clock {
  time = 1_700_000_000_000;
  #timers: { at: number; callback: () => void; id: number }[] = [];
  #next = 1;

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.push({ at: this.time + ms, callback, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  }

  get pendingTimers(): number {
    return this.#timers.length;
  }

  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const due = this.#timers[0];
      if (due === undefined || due.at > end) break;
      this.#timers.shift();
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = end;
  }
}
