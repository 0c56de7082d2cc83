/**
 * Counts failed attempts (wrong secrets) per client address and turns an address away for the
 * rest of the window once it has failed too often, before any comparison: guessing a token
 * becomes slow, and a flood of wrong tokens costs neither CPU nor a log line per attempt.
 * Memory is bounded: at most maxAddresses are tracked, the oldest forgotten first.
 */
export interface FailureThrottleOptions {
  /** Failures allowed per address and window. */
  limit: number;
  windowMs: number;
  maxAddresses?: number;
}

interface Window {
  failures: number;
  endsAt: number;
}

export class FailureThrottle {
  readonly #options: Required<FailureThrottleOptions>;
  readonly #byAddress = new Map<string, Window>();

  constructor(options: FailureThrottleOptions) {
    this.#options = { maxAddresses: 10_000, ...options };
  }

  /** Seconds the address must wait, or 0 when it may try. */
  retryAfter(address: string, now: number): number {
    const window = this.#byAddress.get(address);
    if (window === undefined) return 0;
    if (window.endsAt <= now) {
      this.#byAddress.delete(address);
      return 0;
    }
    return window.failures >= this.#options.limit ? Math.ceil((window.endsAt - now) / 1000) : 0;
  }

  /** Records a failure; true when this one used up the address's allowance. */
  failed(address: string, now: number): boolean {
    let window = this.#byAddress.get(address);
    if (window === undefined || window.endsAt <= now) {
      if (this.#byAddress.size >= this.#options.maxAddresses) {
        const oldest = this.#byAddress.keys().next().value;
        if (oldest !== undefined) this.#byAddress.delete(oldest);
      }
      window = { failures: 0, endsAt: now + this.#options.windowMs };
      this.#byAddress.delete(address);
      this.#byAddress.set(address, window);
    }
    window.failures++;
    return window.failures === this.#options.limit;
  }
}
