/**
 * /metrics on a port of its own (TOKENPLACE_RELAY_METRICS_PORT): an Ingress path "/" or a tunnel
 * that routes every path of the relay's port to the public must not reach the metrics, whatever
 * the proxy in front does with paths. The chart sets the port; the Service names it `metrics` and
 * the Ingress routes only `http`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http-client.ts';
import { freePort } from '../helpers/ports.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

let upstream: TestUpstream;
let relay: RelayProcess;
let metricsPort: number;

beforeAll(async () => {
  upstream = await startUpstream();
  metricsPort = await freePort();
  relay = await startRelay({
    TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
    TOKENPLACE_RELAY_METRICS_PORT: String(metricsPort),
  });
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

describe('with TOKENPLACE_RELAY_METRICS_PORT', () => {
  it('serves /metrics on the metrics port', async () => {
    await send(relay.port, { path: '/v1/models' });
    const res = await send(metricsPort, { path: '/metrics' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body.toString()).toMatch(/^tokenplace_relay_requests_total\{/m);
  });

  it.each(['/metrics', '/metrics?x=1', '/metrics/', '//metrics'])(
    'the public port answers %s with 404 or forwards it, never with the metrics',
    async (path) => {
      const before = upstream.requests.length;
      const res = await send(relay.port, { path });
      expect(res.body.toString()).not.toMatch(/tokenplace_relay_/);
      if (path === '/metrics' || path === '/metrics?x=1') {
        expect(res.status).toBe(404);
        expect(JSON.parse(res.body.toString()).error.code).toBe('not_found');
        expect(upstream.requests.length).toBe(before);
      }
    },
  );

  it.each(['/', '/healthz', '/v1/models', '/api/v1/relay/servers/list'])(
    'the metrics port answers %s with 404 and forwards nothing',
    async (path) => {
      const before = upstream.requests.length;
      const res = await send(metricsPort, { path });
      expect(res.status).toBe(404);
      expect(upstream.requests.length).toBe(before);
    },
  );

  it('the relay port still serves probes and forwards requests', async () => {
    expect((await send(relay.port, { path: '/livez' })).status).toBe(200);
    expect((await send(relay.port, { path: '/healthz' })).status).toBe(200);
    expect((await send(relay.port, { path: '/v1/models' })).status).toBe(200);
  });

  it('closes the metrics port on shutdown', async () => {
    const exit = await relay.stop();
    expect(exit.code).toBe(0);
    await expect(send(metricsPort, { path: '/metrics' }, 1_000)).rejects.toThrow();
  });
});
