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

/**
 * With several origins (replicas sharing one store) the node polls the first, the client posts
 * through the second and retrieves through the third.
 */
export async function measureRoundTrips(origins: string[], options: RoundTripOptions): Promise<RoundTrips> {
  const [nodeOrigin, postOrigin = nodeOrigin, retrieveOrigin = postOrigin] = origins;
  const node = new FakeNode(nodeOrigin);
  await node.register();
  node.start();
  const client = new Pool(postOrigin, { connections: 1 });
  const retriever = retrieveOrigin === postOrigin ? client : new Pool(retrieveOrigin, { connections: 1 });
  const clientPublicKey = fakePublicKey();
  const samples = { roundTrip: [] as number[], wakeUp: [] as number[], dispatch: [] as number[] };
  try {
    for (let i = 0; i < options.warmup + options.count; i++) {
      await node.parked(options.settleMs);
      const requestId = randomUUID();
      const answered = node.answered(requestId);
      const sent = performance.now();
      const queued = await postJson(client, '/api/v1/relay/requests', clientEnvelope(node.publicKey, clientPublicKey, requestId));
      const acknowledged = performance.now();
      expectOk(queued, 'POST /api/v1/relay/requests');
      const { wokeAt } = await within(answered, 15_000, `the fake node to answer request ${requestId}`);
      const retrieved = await postJson(retriever, '/api/v1/relay/responses/retrieve', {
        client_public_key: clientPublicKey,
        request_id: requestId,
      });
      const done = performance.now();
      expectOk(retrieved, 'POST /api/v1/relay/responses/retrieve');
      if (i < options.warmup) continue;
      samples.roundTrip.push(done - sent);
      samples.wakeUp.push(wokeAt - acknowledged);
      samples.dispatch.push(wokeAt - sent);
    }
  } finally {
    await node.stop();
    await client.destroy();
    if (retriever !== client) await retriever.destroy();
  }
  return {
    count: options.count,
    roundTrip: spread(samples.roundTrip),
    wakeUp: spread(samples.wakeUp),
    dispatch: spread(samples.dispatch),
  };
}
