/**
 * Cross-replica wake-up of long polls. Every transition that adds work or frees capacity for a node
 * publishes the node's hash on one channel; each replica holds one subscriber connection and wakes
 * its own polls for that node. Pub/sub was chosen over blocking pops: one connection per replica
 * instead of one per held poll, and a message reaches every replica (a pop reaches one).
 */

import { systemClock } from '../../src/clock.ts';
import { Waiters } from '../../src/tokenplace/waiters.ts';
import type { StateClient } from './connect.ts';

export class WakeBoard {
  readonly #waiters = new Waiters(systemClock);
  /** Messages seen per node, so a wait started after a message it raced with returns at once. */
  readonly #generation = new Map<string, number>();
  readonly #subscriber: StateClient;
  readonly #channel: string;

  constructor(subscriber: StateClient, channel: string) {
    this.#subscriber = subscriber;
    this.#channel = channel;
    subscriber.on('message', (from: string, nodeHash: string) => {
      if (from === this.#channel) this.notify(nodeHash);
    });
    // Messages sent while the subscriber was away are lost: every poll looks again.
    subscriber.on('ready', () => this.wakeAll());
  }

  async start(): Promise<void> {
    await this.#subscriber.subscribe(this.#channel);
  }

  generation(nodeHash: string): number {
    return this.#generation.get(nodeHash) ?? 0;
  }

  notify(nodeHash: string): void {
    this.#generation.set(nodeHash, this.generation(nodeHash) + 1);
    // Generations only matter to a wait that is about to begin; keep the map small.
    if (!this.#waiters.notify(nodeHash) && this.#generation.size > 10_000) this.#generation.clear();
  }

  wakeAll(): void {
    for (const nodeHash of this.#waiters.keys()) this.notify(nodeHash);
  }

  /** Resolves on a message for the node, after ms, on abort, or at once if a message came since `seen`. */
  wait(nodeHash: string, seen: number | undefined, ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0 || signal.aborted) return Promise.resolve();
    if (seen !== undefined && seen !== this.generation(nodeHash)) return Promise.resolve();
    return this.#waiters.wait(nodeHash, ms, signal);
  }

  get waiting(): number {
    return this.#waiters.size;
  }
}
