/**
 * Cluster mode: two relay processes on a real three-master Redis Cluster (redis+cluster://, one
 * seed node). The protocol flows across them, and the HTTP upstream's slots are one budget.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/async.ts';
import { fakeRequest, fakeResponse, newPublicKey } from '../../helpers/fake-envelope.ts';
import { send } from '../../helpers/http-client.ts';
import { type RedisCluster, startRedisCluster } from '../../helpers/redis-cluster.ts';
import { type RelayUnderTest, relayKind, startRelayUnderTest } from '../../helpers/relay-under-test.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream-server.ts';
import { capabilities as nodeCapabilities } from '../harness.ts';

let cluster: RedisCluster;
let upstream: TestUpstream;
let replicas: RelayUnderTest[] = [];
let running = 0;
let peak = 0;

beforeEach(async () => {
  [cluster, upstream] = await Promise.all([startRedisCluster(), startUpstream()]);
  running = 0;
  peak = 0;
  upstream.handle((req, res, recorded) => {
    req.resume();
    void recorded.settled.then(() => {
      running++;
      peak = Math.max(peak, running);
      setTimeout(() => {
        running--;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"choices":[]}');
      }, 50);
    });
  });
  replicas = await Promise.all(
    [0, 1].map(() =>
      startRelayUnderTest({
        TOKENPLACE_RELAY_STATE_URL: cluster.url,
        TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
        TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '2',
        TOKENPLACE_RELAY_QUEUE_LENGTH: '40',
        TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '60000',
      }),
    ),
  );
  // Each replica answers once its Cluster client has learned the slots.
  for (const replica of replicas) {
    await eventually(
      async () => ((await send(replica.port, { path: '/healthz' })).status === 200 ? true : undefined),
      10_000,
      'ready',
    );
  }
});
afterEach(async () => {
  await Promise.all(replicas.map((replica) => replica.stop()));
  replicas = [];
  await upstream.close();
  await cluster.stop();
});

describe.skipIf(relayKind() === 'reference')('relay replicas on a Redis Cluster', { timeout: 90_000 }, () => {
  it('a node registered and polling on A gets work posted through B; the answer is retrieved through A once', async () => {
    const [a, b] = replicas;
    const nodeKey = newPublicKey();
    const registered = await a.postJson('/api/v1/relay/servers/register', {
      server_public_key: nodeKey,
      capabilities: nodeCapabilities({ max_concurrency: 1 }),
    });
    expect(registered.status).toBe(200);
    expect(await b.nodeKeys()).toEqual([nodeKey]);

    const poll = a.postJson('/api/v1/relay/servers/poll', { server_public_key: nodeKey }, {}, 15_000);
    const request = fakeRequest(nodeKey);
    expect((await b.postJson('/api/v1/relay/requests', request.body)).status).toBe(200);
    const work = (await poll).body as { request_id?: string };
    expect(work.request_id).toBe(request.requestId);

    expect((await b.postJson('/api/v1/relay/responses', fakeResponse(request))).status).toBe(200);
    const retrieve = { client_public_key: request.clientPublicKey, request_id: request.requestId };
    expect((await a.postJson('/api/v1/relay/responses/retrieve', retrieve)).status).toBe(200);
    expect((await b.postJson('/api/v1/relay/responses/retrieve', retrieve)).status).not.toBe(200);
  });

  it('two replicas run at most the HTTP upstream capacity (2) under 30 concurrent clients', async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        send(
          replicas[i % 2].port,
          { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: '{}' },
          30_000,
        ),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    expect(peak).toBe(2);
  });
});
