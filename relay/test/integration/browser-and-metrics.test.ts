/** CORS and the /metrics bearer token through the real process (the Node Response class, real sockets). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http-client.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

const ORIGIN = 'https://chat.example.org';
const METRICS_TOKEN = 'metrics-bearer-51c2';

let upstream: TestUpstream;
let relay: RelayProcess;

beforeAll(async () => {
  upstream = await startUpstream();
  relay = await startRelay({
    TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
    TOKENPLACE_RELAY_CORS_ORIGINS: `${ORIGIN}, http://localhost:5173`,
    TOKENPLACE_RELAY_CORS_CREDENTIALS: 'true',
    TOKENPLACE_METRICS_TOKEN: METRICS_TOKEN,
  });
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

describe('CORS', () => {
  it('answers a preflight from an allowed origin itself; the upstream never sees it', async () => {
    const before = upstream.requests.length;
    const res = await send(relay.port, {
      method: 'OPTIONS',
      path: '/v1/chat/completions',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers).toMatchObject({
      'access-control-allow-origin': ORIGIN,
      'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
      'access-control-allow-headers': 'content-type, authorization',
      'access-control-allow-credentials': 'true',
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a preflight from another origin with 403 JSON and no allow headers', async () => {
    const res = await send(relay.port, {
      method: 'OPTIONS',
      path: '/v1/chat/completions',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(res.body.toString()).error.code).toBe('cors_not_allowed');
  });

  it('adds the allow headers and Vary: Origin to forwarded responses, and only for allowed origins', async () => {
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', vary: 'Accept-Encoding', 'access-control-allow-origin': '*' });
      res.end('{}');
    });
    const allowed = await send(relay.port, { path: '/v1/models', headers: { origin: ORIGIN } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    expect(allowed.headers['access-control-expose-headers']).toBe('x-request-id, retry-after');
    expect(allowed.headers.vary).toBe('Accept-Encoding, Origin');
    expect(allowed.headers['x-request-id']).toBeDefined();

    const other = await send(relay.port, { path: '/v1/models', headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(200);
    // The upstream's own "*" is not passed on: the relay's policy is the one browsers see.
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers.vary).toBe('Accept-Encoding, Origin');
  });

  it('puts the allow headers on the relay’s own error answers too, so a browser can read them', async () => {
    upstream.handle((req) => req.socket.resetAndDestroy());
    const res = await send(relay.port, { path: '/v1/models', headers: { origin: ORIGIN } });
    expect(res.status).toBe(502);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(JSON.parse(res.body.toString()).error.code).toBe('upstream_reset');
  });
});

describe('the /metrics bearer token', () => {
  it('answers 401 with a Bearer challenge without the token, and the metrics with it', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${METRICS_TOKEN}` },
    ];
    for (const headers of attempts) {
      const res = await send(relay.port, { path: '/metrics', headers });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      expect(res.body.toString()).not.toContain('tokenplace_relay_');
    }
    const ok = await send(relay.port, { path: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toContain('tokenplace_relay_requests_total');
    expect(relay.stdout()).not.toContain(METRICS_TOKEN);
  });

  it('keeps the probes open', async () => {
    expect((await send(relay.port, { path: '/livez' })).status).toBe(200);
    expect((await send(relay.port, { path: '/healthz' })).status).toBe(200);
  });
});
