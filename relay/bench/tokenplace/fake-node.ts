/**
 * A compute node that does no work: it registers, long-polls, and answers each work item at once
 * with a made-up ciphertext (the relay never decrypts, so no crypto is needed), then polls again,
 * one request after the other like token.place's server.py. It tells the benchmark in-process when
 * it has posted an answer, so the client can retrieve right then and no client poll interval is measured.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { type Answer, fakePublicKey, NODE_HEADERS, nodeEnvelope, postJson } from './wire.ts';

export interface Answered {
  /** performance.now() when the node's long poll answered with the work item. */
  wokeAt: number;
}

interface Waiter {
  resolve(answered: Answered): void;
  reject(error: Error): void;
}

export class FakeNode {
  readonly publicKey = fakePublicKey();
  readonly #pool: Pool;
  readonly #waiters = new Map<string, Waiter>();
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  #pollSentAt = Number.NaN;
  #failure: Error | undefined;

  constructor(origin: string) {
    // Two connections: the long poll, and the unregister that stop() sends while a poll is pending.
    this.#pool = new Pool(origin, { connections: 2 });
  }

  /** Registers the node; it takes no work until start(), so a node never started lets its queue grow. */
  async register(): Promise<void> {
    expectOk(
      await postJson(this.#pool, '/api/v1/relay/servers/register', { server_public_key: this.publicKey }, NODE_HEADERS),
      'register',
    );
  }

  /** Starts the poll loop; register first. */
  start(): void {
    this.#running = true;
    this.#loop = this.#pollLoop().catch((error: Error) => {
      this.#failure = error;
      for (const waiter of this.#waiters.values()) waiter.reject(error);
      this.#waiters.clear();
    });
  }

  /** Resolves when the node has answered the work item with this request id. */
  answered(requestId: string): Promise<Answered> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.set(requestId, { resolve, reject }));
  }

  /**
   * Waits until the node's current long poll has been out for settleMs, so that it is parked in the
   * relay when the next request arrives and the wake-up, not the poll's own trip, is what gets measured.
   */
  async parked(settleMs: number): Promise<void> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      const waited = performance.now() - this.#pollSentAt;
      if (waited >= settleMs) return;
      await sleep(Number.isNaN(waited) ? 1 : settleMs - waited);
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await postJson(this.#pool, '/api/v1/relay/servers/unregister', { server_public_key: this.publicKey }, NODE_HEADERS).catch(
      () => undefined,
    );
    await this.#pool.destroy();
    await this.#loop;
  }

  async #pollLoop(): Promise<void> {
    while (this.#running) {
      this.#pollSentAt = performance.now();
      const poll = await postJson(
        this.#pool,
        '/api/v1/relay/servers/poll',
        { server_public_key: this.publicKey },
        NODE_HEADERS,
      ).catch((error: Error) => {
        if (this.#running) throw error;
        return undefined;
      });
      const wokeAt = performance.now();
      this.#pollSentAt = Number.NaN;
      if (!poll || !this.#running) return;
      expectOk(poll, 'poll');
      const requestId = poll.body.request_id;
      const clientPublicKey = poll.body.client_public_key;
      if (typeof requestId !== 'string' || typeof clientPublicKey !== 'string') continue; // the poll timed out empty
      expectOk(
        await postJson(this.#pool, '/api/v1/relay/responses', nodeEnvelope(clientPublicKey, requestId), NODE_HEADERS),
        'response',
      );
      this.#waiters.get(requestId)?.resolve({ wokeAt });
      this.#waiters.delete(requestId);
    }
  }
}

export function expectOk(answer: Answer, what: string, status = 200): void {
  if (answer.status !== status) {
    throw new Error(`${what} answered ${answer.status}, expected ${status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
  }
}
