/**
 * (a) One full round trip at a time through the relay, with the fake node answering at once:
 * client POST /requests -> the node's parked long poll wakes -> node POST /responses -> client
 * POST /responses/retrieve answers 200. What is measured is what the relay adds, nothing else.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { within } from '../../test/helpers/async.ts';
import { expectOk, FakeNode } from './fake-node.ts';
import { type Spread, spread } from './stats.ts';
import { clientEnvelope, fakePublicKey, postJson } from './wire.ts';

export interface RoundTripOptions {
  warmup: number;
  count: number;
  /** How long the node's poll is left parked in the relay before each request (see FakeNode.parked). */
  settleMs: number;
}

export interface RoundTrips {
  count: number;
  /** Client sends /requests until its retrieve answers 200. */
  roundTrip: Spread;
  /** The client's /requests answer arriving until the node's poll answer arrives (below 0: the node's came first). */
  wakeUp: Spread;
  /** The client sending /requests until the node's poll answer arrives. */
  dispatch: Spread;
}

interface Sample {
  roundTrip: number;
  wakeUp: number;
  dispatch: number;
}

/**
 * A registered, polling fake node and a client on one relay. With several origins (replicas sharing
 * one store) the node polls the first, the client posts through the second and retrieves through the third.
 */
class Session {
  readonly #node: FakeNode;
  readonly #client: Pool;
  readonly #retriever: Pool;
  readonly #clientPublicKey = fakePublicKey();

  private constructor(origins: string[]) {
    const [nodeOrigin, postOrigin = nodeOrigin, retrieveOrigin = postOrigin] = origins;
    this.#node = new FakeNode(nodeOrigin);
    this.#client = new Pool(postOrigin, { connections: 1 });
    this.#retriever = retrieveOrigin === postOrigin ? this.#client : new Pool(retrieveOrigin, { connections: 1 });
  }

  static async open(origins: string[]): Promise<Session> {
    const session = new Session(origins);
    await session.#node.register();
    session.#node.start();
    return session;
  }

  async once(settleMs: number): Promise<Sample> {
    await this.#node.parked(settleMs);
    const requestId = randomUUID();
    const answered = this.#node.answered(requestId);
    const sent = performance.now();
    const queued = await postJson(
      this.#client,
      '/api/v1/relay/requests',
      clientEnvelope(this.#node.publicKey, this.#clientPublicKey, requestId),
    );
    const acknowledged = performance.now();
    expectOk(queued, 'POST /api/v1/relay/requests');
    const { wokeAt } = await within(answered, 15_000, `the fake node to answer request ${requestId}`);
    const retrieved = await postJson(this.#retriever, '/api/v1/relay/responses/retrieve', {
      client_public_key: this.#clientPublicKey,
      request_id: requestId,
    });
    const done = performance.now();
    expectOk(retrieved, 'POST /api/v1/relay/responses/retrieve');
    return { roundTrip: done - sent, wakeUp: wokeAt - acknowledged, dispatch: wokeAt - sent };
  }

  async close(): Promise<void> {
    await this.#node.stop();
    await this.#client.destroy();
    if (this.#retriever !== this.#client) await this.#retriever.destroy();
  }
}

function summary(samples: Sample[]): RoundTrips {
  return {
    count: samples.length,
    roundTrip: spread(samples.map((sample) => sample.roundTrip)),
    wakeUp: spread(samples.map((sample) => sample.wakeUp)),
    dispatch: spread(samples.map((sample) => sample.dispatch)),
  };
}

export async function measureRoundTrips(origins: string[], options: RoundTripOptions): Promise<RoundTrips> {
  const session = await Session.open(origins);
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < options.warmup + options.count; i++) {
      const sample = await session.once(options.settleMs);
      if (i >= options.warmup) samples.push(sample);
    }
  } finally {
    await session.close();
  }
  return summary(samples);
}

/**
 * Two relays measured in the same moments: their round trips alternate (a, b, b, a, a, b, ...), so
 * a machine that gets busier or quieter during the run weighs on both alike.
 */
export async function measurePairedRoundTrips(
  a: string[],
  b: string[],
  options: RoundTripOptions,
): Promise<[RoundTrips, RoundTrips]> {
  const sessions = [await Session.open(a), await Session.open(b)];
  const samples: [Sample[], Sample[]] = [[], []];
  try {
    for (let i = 0; i < options.warmup + options.count; i++) {
      for (const which of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const sample = await sessions[which].once(options.settleMs);
        if (i >= options.warmup) samples[which].push(sample);
      }
    }
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
  }
  return [summary(samples[0]), summary(samples[1])];
}
