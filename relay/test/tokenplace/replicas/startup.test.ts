/** A relay started while its Valkey/Redis is down: it serves /livez, answers 503 where state is needed, and recovers alone. */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../helpers/async.ts';
import { send } from '../../helpers/http-client.ts';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.ts';
import { type RelayProcess, startRelay } from '../../helpers/relay-process.ts';

let redis: RedisServer | undefined;
let relay: RelayProcess | undefined;
afterEach(async () => {
  await relay?.stop();
  await redis?.stop();
});

describe('a relay whose state store is down at start', () => {
  it('listens, keeps /livez at 200, answers 503 with Retry-After, and recovers when the store comes up', async () => {
    redis = await startRedisServer();
    await redis.stop();
    relay = await startRelay({ TOKENPLACE_RELAY_STATE_URL: redis.url, TOKENPLACE_RELAY_OPEN_REGISTRATION: 'true' });

    expect((await send(relay.port, { path: '/livez' })).status).toBe(200);
    expect((await send(relay.port, { path: '/healthz' })).status).toBe(503);
    const next = await send(relay.port, { path: '/api/v1/relay/servers/next' });
    expect(next.status).toBe(503);
    expect(next.headers['retry-after']).toBe('1');
    expect(JSON.parse(next.body.toString())).toMatchObject({ error: { code: 'relay_state_unavailable' } });
    expect(next.headers['access-control-allow-origin']).toBe('*');

    await redis.start();
    const port = relay.port;
    await eventually(
      async () => ((await send(port, { path: '/healthz' })).status === 200 ? true : undefined),
      10_000,
      '/healthz at 200',
    );
    const recovered = await send(port, { path: '/api/v1/relay/servers/next' });
    expect(JSON.parse(recovered.body.toString())).toMatchObject({ error: { code: 'no_registered_compute_nodes' } });
    await relay.waitForLog((line) => line.msg === 'connected to the shared state store', 5_000, 'the connection logged');
  });
});
