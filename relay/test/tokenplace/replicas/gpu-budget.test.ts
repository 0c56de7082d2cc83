/**
 * One GPU budget across replicas: a node with max_concurrency 3 long-polls all three replicas at
 * once (four polls each) while 100 clients post through all of them; the node never holds more
 * than 3 requests, and every request is answered exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeRequest, fakeResponse, newPublicKey } from '../../helpers/fake-envelope.ts';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.ts';
import { type RelayUnderTest, relayKind, startRelayUnderTest } from '../../helpers/relay-under-test.ts';
import { capabilities as nodeCapabilities } from '../harness.ts';

const MAX_CONCURRENCY = 3;
const CLIENTS = 100;

let redis: RedisServer;
let replicas: RelayUnderTest[] = [];

beforeEach(async () => {
  redis = await startRedisServer();
  replicas = await Promise.all(
    [0, 1, 2].map(() =>
      startRelayUnderTest({
        TOKENPLACE_RELAY_STATE_URL: redis.url,
        TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: String(CLIENTS),
      }),
    ),
  );
});
afterEach(async () => {
  await Promise.all(replicas.map((replica) => replica.stop()));
  replicas = [];
  await redis.stop();
});

const capabilities = nodeCapabilities({ max_concurrency: MAX_CONCURRENCY });

describe.skipIf(relayKind() === 'reference')('one GPU budget across replicas', { timeout: 90_000 }, () => {
  it(`a node with max_concurrency ${MAX_CONCURRENCY} polled on three replicas never holds more, under ${CLIENTS} clients`, async () => {
    const nodeKey = newPublicKey();
    const clientKey = newPublicKey();
    const registered = await replicas[0].postJson('/api/v1/relay/servers/register', { server_public_key: nodeKey, capabilities });
    expect(registered.status).toBe(200);

    const requests = Array.from({ length: CLIENTS }, () => fakeRequest(nodeKey, clientKey));
    const byId = new Map(requests.map((request) => [request.requestId, request]));
    const posted = await Promise.all(
      requests.map((request, i) => replicas[i % 3].postJson('/api/v1/relay/requests', request.body, {}, 15_000)),
    );
    expect(posted.map((reply) => reply.status)).toEqual(requests.map(() => 200));

    let held = 0;
    let most = 0;
    const answered = new Map<string, number>();
    async function pollLoop(replica: RelayUnderTest, turn: number): Promise<void> {
      while (answered.size < CLIENTS) {
        const reply = await replica.postJson('/api/v1/relay/servers/poll', { server_public_key: nodeKey }, {}, 15_000);
        const work = reply.body as { request_id?: string };
        if (reply.status !== 200 || work.request_id === undefined) continue;
        held++;
        most = Math.max(most, held);
        await new Promise((resolve) => setTimeout(resolve, 5 + ((turn * 7) % 20)));
        // The node is done with it before it says so: what it holds never counts an answer the relay already has.
        held--;
        answered.set(work.request_id, (answered.get(work.request_id) ?? 0) + 1);
        const request = byId.get(work.request_id);
        if (request === undefined) throw new Error(`unknown request ${work.request_id}`);
        const stored = await replicas[(turn + 1) % 3].postJson('/api/v1/relay/responses', fakeResponse(request), {}, 15_000);
        expect(stored.status).toBe(200);
      }
    }
    await Promise.all(replicas.flatMap((replica, r) => [0, 1, 2, 3].map((i) => pollLoop(replica, r * 4 + i))));

    expect(most).toBeLessThanOrEqual(MAX_CONCURRENCY);
    expect(most).toBe(MAX_CONCURRENCY);
    expect([...answered.values()].every((times) => times === 1)).toBe(true);
    expect(answered.size).toBe(CLIENTS);
    const retrieved = await Promise.all(
      requests.map((request, i) =>
        replicas[(i + 2) % 3].postJson('/api/v1/relay/responses/retrieve', {
          client_public_key: clientKey,
          request_id: request.requestId,
        }),
      ),
    );
    expect(retrieved.map((reply) => reply.status)).toEqual(requests.map(() => 200));
  });
});
