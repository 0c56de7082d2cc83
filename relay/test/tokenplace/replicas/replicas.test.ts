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

describe.skipIf(relayKind() === 'reference')('three replicas sharing one Valkey/Redis', { timeout: 60_000 }, () => {
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

    await eventually(async () => ((await health(a, '/healthz')) === 200 ? true : undefined), 10_000, '/healthz back at 200');
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

    await eventually(async () => ((await health(b, '/healthz')) === 200 ? true : undefined), 10_000, '/healthz back at 200');
    // The new server is empty: server.py's next poll gets 404 and it registers again.
    await node.registered(30_000);
    expect((await client.ask('after the restart', 30_000)).text).toMatch(/^Mock Response: /);
    for (const replica of replicas) expect(replica.ours?.child.exitCode).toBeNull();
  });
});
