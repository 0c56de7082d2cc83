/**
 * Where the relay is in its life: probes answer from this, and the runtime moves it forward.
 * starting -> ready -> draining (SIGTERM: readiness fails, traffic still served) -> stopping.
 */
export type Phase = 'starting' | 'ready' | 'draining' | 'stopping';

export class Lifecycle {
  #phase: Phase = 'starting';
  readonly #drainListeners: (() => void)[] = [];

  /** Called once when the drain begins (long polls use it to answer at once). */
  onDrain(listener: () => void): void {
    this.#drainListeners.push(listener);
  }

  get phase(): Phase {
    return this.#phase;
  }

  markReady(): void {
    if (this.#phase === 'starting') this.#phase = 'ready';
  }

  beginDrain(): void {
    if (this.#phase !== 'starting' && this.#phase !== 'ready') return;
    this.#phase = 'draining';
    for (const listener of this.#drainListeners) listener();
  }

  markStopping(): void {
    this.#phase = 'stopping';
  }

  get shuttingDown(): boolean {
    return this.#phase === 'draining' || this.#phase === 'stopping';
  }
}
