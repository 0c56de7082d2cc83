/**
 * Where the relay is in its life: probes answer from this, and the runtime moves it forward.
 * starting -> ready -> draining (SIGTERM: readiness fails, traffic still served) -> stopping.
 */
export type Phase = 'starting' | 'ready' | 'draining' | 'stopping';

export class Lifecycle {
  #phase: Phase = 'starting';

  get phase(): Phase {
    return this.#phase;
  }

  markReady(): void {
    if (this.#phase === 'starting') this.#phase = 'ready';
  }

  beginDrain(): void {
    if (this.#phase === 'starting' || this.#phase === 'ready') this.#phase = 'draining';
  }

  markStopping(): void {
    this.#phase = 'stopping';
  }

  get shuttingDown(): boolean {
    return this.#phase === 'draining' || this.#phase === 'stopping';
  }
}
