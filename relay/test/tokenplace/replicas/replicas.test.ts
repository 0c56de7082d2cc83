/**
 * Three relay replicas sharing one redis-server, with token.place's real programs: server.py
 * long-polls replica A while client.py posts through B and retrieves through C (a path router
 * stands in for the Service). Then the failures a scaled-out relay must survive: a replica killed
 * with a request in flight, and the state store paused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/async.ts';
import { send } from '../../helpers/http-client.ts';
import { type PathRouter, startPathRouter } from '../../helpers/path-router.ts';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.ts';
import { type RelayUnderTest, relayKind, startRelayUnderTest } from '../../helpers/relay-under-test.ts';
import { usePeerBench } from '../../helpers/tokenplace-peers.ts';

const REQUESTS = '/api/v1/relay/requests';
const RETRIEVE = '/api/v1/relay/responses/retrieve';
const bench = usePeerBench();

let redis: RedisServer;
let replicas: RelayUnderTest[] = [];
let router: PathRouter | undefined;

beforeEach(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  await router?.close();
  router = undefined;
  await Promise.all(replicas.map((replica) => replica.stop()));
  replicas = [];
  await redis.stop();
});

async function threeReplicas(): Promise<[RelayUnderTest, RelayUnderTest, RelayUnderTest]> {
  replicas = await Promise.all([0, 1, 2].map(() => startRelayUnderTest({ TOKENPLACE_RELAY_STATE_URL: redis.url })));
  const [a, b, c] = replicas;
  router = await startPathRouter({ [REQUESTS]: b.port, [RETRIEVE]: c.port }, a.port);
  return [a, b, c];
}

/** client.py talks to the router: /requests reach B, /responses/retrieve reach C, the rest A. */
function clientThroughRouter() {
  return bench().startClient({ relay: { port: (router as PathRouter).port } as RelayUnderTest });
}

const health = async (replica: RelayUnderTest, path: string) => (await send(replica.port, { path }, 3_000)).status;

describe.skipIf(relayKind() === 'reference')('three replicas sharing one Valkey/Redis', { timeout: 90_000 }, () => {
  it('server.py polls A, client.py posts through B and retrieves through C: the chat completes', async () => {
    const [a, b, c] = await threeReplicas();
    const node = bench().startNode({ relay: a });
    await node.registered();
    expect(await b.nodeKeys()).toEqual(await a.nodeKeys());

    const answer = await clientThroughRouter().ask('Where does the answer come from?');

    expect(answer.text).toMatch(/^Mock Response: /);
    await b.waitForAnswer(REQUESTS, 200);
    await c.waitForAnswer(RETRIEVE, 200);
    expect(a.answered(REQUESTS, 200)).toBe(false);
  });

  it('a replica killed with SIGKILL while a request waits: the request is answered through the others', async () => {
    const [a, b] = await threeReplicas();
    const node = bench().startNode({ relay: a });
    await node.registered();
    // Frozen, server.py holds nothing: the request stays queued in the shared store.
    node.peer.signal('SIGSTOP');
    const client = clientThroughRouter();
    const asked = client.ask('Will this survive?', 40_000);
    await b.waitForAnswer(REQUESTS, 200, 20_000);
    b.ours?.child.kill('SIGKILL');
    node.peer.signal('SIGCONT');

    expect((await asked).text).toMatch(/^Mock Response: /);
  });

  it('the replica a node polls SIGKILLed with a request in flight: the answer arrives through another, once', async () => {
    replicas = await Promise.all(
      [0, 1, 2].map(() =>
        startRelayUnderTest({ TOKENPLACE_RELAY_STATE_URL: redis.url, TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: '10' }),
      ),
    );
    const [a, b, c] = replicas;
    // server.py reaches the relay through a "Service" that prefers A and skips it once it is dead.
    const nodeRouter = await startPathRouter({}, [a.port, b.port, c.port]);
    router = await startPathRouter({ [REQUESTS]: b.port, [RETRIEVE]: c.port }, a.port);
    try {
      const node = bench().startNode({ relay: { ...a, url: `http://127.0.0.1:${nodeRouter.port}` } });
      await node.registered();
      // Frozen while its poll is held on A: A hands it the request (in flight now), and dies before the answer.
      await new Promise((resolve) => setTimeout(resolve, 500));
      node.peer.signal('SIGSTOP');
      const client = clientThroughRouter();
      const asked = client.ask('Who answers now?', 40_000);
      await a.ours?.waitForLog((line) => line.msg === 'encrypted request dispatched', 20_000, 'the request dispatched on A');
      a.ours?.child.kill('SIGKILL');
      node.peer.signal('SIGCONT');

      expect((await asked).text).toMatch(/^Mock Response: /);
      await eventually(
        async () => (b.answered('/api/v1/relay/responses', 200) || c.answered('/api/v1/relay/responses', 200) ? true : undefined),
        5_000,
        'the answer posted to B or C',
      );
      expect(client.peer.output().match(/Assistant: /g)).toHaveLength(1);
    } finally {
      await nodeRouter.close();
    }
  });

  it('the store paused for 5 s: protocol routes answer 503 with Retry-After, /livez stays 200, then everything recovers', async () => {
    const [a] = await threeReplicas();
    const node = bench().startNode({ relay: a });
    await node.registered();
    const client = clientThroughRouter();
    expect((await client.ask('before the pause')).text).toMatch(/^Mock Response: /);

    redis.pause();
    const pausedAt = Date.now();
    try {
      const next = await send(a.port, { path: '/api/v1/relay/servers/next' }, 5_000);
      expect(next.status, next.body.toString()).toBe(503);
      expect(next.headers['retry-after']).toBeDefined();
      expect(await health(a, '/healthz')).toBe(503);
      expect(await health(a, '/livez')).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 5_000 - (Date.now() - pausedAt))));
    } finally {
      redis.resume();
    }

    for (const replica of replicas) {
      await eventually(
        async () => ((await health(replica, '/healthz')) === 200 ? true : undefined),
        10_000,
        '/healthz back at 200',
      );
    }
    expect((await client.ask('after the pause', 30_000)).text).toMatch(/^Mock Response: /);
    expect(a.ours?.child.exitCode).toBeNull();
  });

  it('the store restarted empty: 503 while it is down, then server.py registers again and chats complete', async () => {
    const [a, b] = await threeReplicas();
    const node = bench().startNode({ relay: a });
    await node.registered();
    const client = clientThroughRouter();
    expect((await client.ask('before the restart')).text).toMatch(/^Mock Response: /);

    await redis.stop();
    const next = await send(b.port, { path: '/api/v1/relay/servers/next' }, 5_000);
    expect(next.status).toBe(503);
    expect(next.headers['retry-after']).toBeDefined();
    expect(await health(b, '/livez')).toBe(200);
    await redis.start();

    // Each replica reconnects on its own back-off; the client's calls reach all three.
    for (const replica of replicas) {
      await eventually(
        async () => ((await health(replica, '/healthz')) === 200 ? true : undefined),
        10_000,
        '/healthz back at 200',
      );
    }
    // The new server is empty: server.py's next poll gets 404 and it registers again.
    await node.registered(30_000);
    expect((await client.ask('after the restart', 30_000)).text).toMatch(/^Mock Response: /);
    for (const replica of replicas) expect(replica.ours?.child.exitCode).toBeNull();
  });
});
