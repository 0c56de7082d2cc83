/** A state store that cannot be reached: protocol routes answer 503 with Retry-After, /livez stays 200, /healthz turns 503. */
import { describe, expect, it } from 'vitest';
import { createPromMetrics } from '../../../node/prom-metrics.ts';
import { loadConfig } from '../../../src/config.ts';
import { createRelayHandler } from '../../../src/handler.ts';
import { Lifecycle } from '../../../src/lifecycle.ts';
import { StoreUnavailableError, type TokenPlaceStore } from '../../../src/tokenplace/store.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';
import { capabilities, requestEnvelope, TOKEN } from '../harness.ts';

function unreachableStore(): TokenPlaceStore {
  return new Proxy({} as TokenPlaceStore, {
    get: (_target, name) => {
      if (name === 'wakeAll' || name === 'close') return () => undefined;
      return async () => {
        throw new StoreUnavailableError('connection refused', { retryAfterSeconds: 2 });
      };
    },
  });
}

function relay() {
  const lifecycle = new Lifecycle();
  lifecycle.markReady();
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  return createRelayHandler(loadConfig({ TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN }), {
    upstream: async () => {
      throw new Error('no upstream');
    },
    metrics: createPromMetrics(),
    log,
    lifecycle,
    version: 'test',
    clock: new FakeClock(),
    tokenplaceStore: unreachableStore(),
  });
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://relay${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('state store unreachable', () => {
  it('answers the protocol routes 503 with Retry-After and CORS on public routes', async () => {
    const handler = relay();
    const registered = await handler(
      post(
        '/api/v1/relay/servers/register',
        { server_public_key: 'k', capabilities: capabilities() },
        { 'x-relay-server-token': TOKEN },
      ),
    );
    expect(registered.status).toBe(503);
    expect(registered.headers.get('retry-after')).toBe('2');
    expect(await registered.json()).toMatchObject({ error: { code: 'relay_state_unavailable' } });

    const requested = await handler(post('/api/v1/relay/requests', requestEnvelope('k', 'c', 'r')));
    expect(requested.status).toBe(503);
    expect(requested.headers.get('access-control-allow-origin')).toBe('*');
    const next = await handler(new Request('http://relay/api/v1/relay/servers/next'));
    expect(next.status).toBe(503);
  });

  it('keeps /livez at 200 and turns /healthz to 503', async () => {
    const handler = relay();
    expect((await handler(new Request('http://relay/livez'))).status).toBe(200);
    const health = await handler(new Request('http://relay/healthz'));
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'state_unavailable' });
  });
});
