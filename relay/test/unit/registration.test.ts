/** /relay/servers, the pool behind the forward path, CORS and the /metrics token, at handler level (no sockets). */
import { describe, expect, it } from 'vitest';
import { createPromMetrics } from '../../node/prom-metrics.ts';
import { loadConfig } from '../../src/config.ts';
import { createRelayHandler } from '../../src/handler.ts';
import { Lifecycle } from '../../src/lifecycle.ts';
import type { RelayLogger } from '../../src/observability.ts';
import { InMemoryRegistry } from '../../src/registry.ts';
import { type UpstreamClient, UpstreamError, type UpstreamRequest, type UpstreamResponse } from '../../src/upstream.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

const TOKEN = 'node-token-3f9a2c';

const silent: RelayLogger = { debug() {}, info() {}, warn() {}, error() {} };

function answer(body = 'ok'): UpstreamResponse {
  return {
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body));
        controller.close();
      },
    }),
    done: Promise.resolve({ bytes: body.length }),
  };
}

function setup(env: Record<string, string> = {}, respond?: (request: UpstreamRequest) => UpstreamResponse) {
  const clock = new FakeClock();
  const seen: UpstreamRequest[] = [];
  const client: UpstreamClient = async (request) => {
    seen.push(request);
    return respond ? respond(request) : answer();
  };
  const metrics = createPromMetrics();
  let ids = 0;
  const config = loadConfig({ TOKENPLACE_RELAY_UPSTREAM_URL: 'http://gpu-server:8000', ...env });
  const handler = createRelayHandler(config, {
    upstream: client,
    metrics,
    log: silent,
    lifecycle: new Lifecycle(),
    version: 'test',
    clock,
    registry: new InMemoryRegistry(config.serverLeaseSeconds, () => `node-${++ids}`),
  });
  return { handler, clock, seen, metrics };
}

const withToken = { TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN };

function register(body: unknown, token: string | null = TOKEN, path = '/relay/servers') {
  return new Request(`http://relay${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { 'x-relay-server-token': token }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const list = (token: string | null = TOKEN) =>
  new Request('http://relay/relay/servers', { headers: token === null ? {} : { 'x-relay-server-token': token } });

describe('/relay/servers authentication', () => {
  it('is disabled with 403 and a message saying how to enable it when no token is configured', async () => {
    const { handler, seen } = setup();
    for (const request of [register({ url: 'http://10.0.0.7:8000' }), list(), list(null)]) {
      const response = await handler(request);
      expect(response.status).toBe(403);
      const body = await response.json();
      expect(body.error.code).toBe('registration_disabled');
      expect(body.error.message).toContain('set TOKEN_PLACE_RELAY_SERVER_TOKEN');
    }
    expect(seen).toHaveLength(0);
  });

  it('answers 401 to a missing, wrong, or differently sized token', async () => {
    const { handler } = setup(withToken);
    for (const token of [null, '', 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase()]) {
      const response = await handler(register({ url: 'http://10.0.0.7:8000' }, token));
      expect(response.status, String(token)).toBe(401);
      expect((await response.json()).error.code).toBe('invalid_server_token');
    }
    expect((await handler(list('nope'))).status).toBe(401);
  });
});

describe('registering compute nodes', () => {
  it('registers, renews by re-posting, lists with in-flight and health, and deletes', async () => {
    const { handler, clock } = setup(withToken);
    let response = await handler(register({ url: 'http://10.0.0.7:8000/', name: 'rtx-4090', maxConcurrency: 2 }));
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe('/relay/servers/node-1');
    expect(await response.json()).toEqual({
      id: 'node-1',
      url: 'http://10.0.0.7:8000',
      name: 'rtx-4090',
      maxConcurrency: 2,
      leaseSeconds: 30,
    });

    clock.advance(20_000);
    response = await handler(register({ url: 'http://10.0.0.7:8000', name: 'rtx-4090', maxConcurrency: 3 }));
    expect(response.status).toBe(200);
    expect((await response.json()).id).toBe('node-1');

    clock.advance(20_000);
    response = await handler(list());
    expect(response.status).toBe(200);
    const listing = await response.json();
    expect(listing.servers).toEqual([
      {
        id: 'static',
        name: 'static upstream',
        url: 'http://gpu-server:8000',
        static: true,
        maxConcurrency: 4,
        inFlight: 0,
        state: 'healthy',
        consecutiveFailures: 0,
      },
      {
        id: 'node-1',
        name: 'rtx-4090',
        url: 'http://10.0.0.7:8000',
        static: false,
        maxConcurrency: 3,
        inFlight: 0,
        state: 'healthy',
        consecutiveFailures: 0,
        leaseExpiresInSeconds: 10,
      },
    ]);
    expect(listing.queue).toEqual({ depth: 0, length: 64, timeoutMs: 30000 });

    const del = (id: string) =>
      handler(new Request(`http://relay/relay/servers/${id}`, { method: 'DELETE', headers: { 'x-relay-server-token': TOKEN } }));
    expect((await del('node-1')).status).toBe(204);
    expect((await del('node-1')).status).toBe(404);
    const staticDelete = await del('static');
    expect(staticDelete.status).toBe(409);
    expect((await staticDelete.json()).error.code).toBe('static_upstream');
    expect((await del('%E0%A4%A')).status).toBe(404);
    expect((await (await handler(list())).json()).servers).toHaveLength(1);
  });

  it('takes the default concurrency from the setting and the name from the host', async () => {
    const { handler } = setup({ ...withToken, TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '6' });
    const body = await (await handler(register({ url: 'http://192.168.1.50:8000' }))).json();
    expect(body).toMatchObject({ name: '192.168.1.50:8000', maxConcurrency: 6 });
  });

  it('drops a node whose lease ended from the listing and the pool', async () => {
    const { handler, clock, seen } = setup({ ...withToken, TOKENPLACE_RELAY_SERVER_LEASE_SECONDS: '5' });
    await handler(register({ url: 'http://10.0.0.7:8000' }));
    clock.advance(5000);
    expect((await (await handler(list())).json()).servers.map((s: { id: string }) => s.id)).toEqual(['static']);
    for (let i = 0; i < 6; i++) await (await handler(new Request('http://relay/v1/models'))).text();
    expect(seen.every((request) => request.target.origin === 'http://gpu-server:8000')).toBe(true);
  });

  it.each([
    [{ url: 'http://8.8.8.8:8000' }, 400, 'upstream_not_allowed', 'not a private-range address'],
    [{ url: 'http://user:pass@10.0.0.7:8000' }, 400, 'upstream_not_allowed', 'credentials'],
    [{ url: 'http://10.0.0.7:8000?x=1' }, 400, 'upstream_not_allowed', 'query'],
    [{ url: 'gopher://10.0.0.7' }, 400, 'upstream_not_allowed', 'http://'],
    [{ url: 'http://evil.example' }, 400, 'upstream_not_allowed', 'host names may register only'],
    [{}, 400, 'upstream_not_allowed', '"url" must be a non-empty string'],
    [{ url: 'http://10.0.0.7', name: '' }, 400, 'invalid_registration', '"name"'],
    [{ url: 'http://10.0.0.7', name: 'x'.repeat(65) }, 400, 'invalid_registration', '"name"'],
    [{ url: 'http://10.0.0.7', maxConcurrency: 0 }, 400, 'invalid_registration', '"maxConcurrency"'],
    [{ url: 'http://10.0.0.7', maxConcurrency: 1.5 }, 400, 'invalid_registration', '"maxConcurrency"'],
    [{ url: 'http://10.0.0.7', maxConcurrency: '2' }, 400, 'invalid_registration', '"maxConcurrency"'],
    [[1, 2], 400, 'invalid_registration', 'JSON object'],
    ['null', 400, 'invalid_registration', 'JSON object'],
    ['{"url": ', 400, 'invalid_json', 'JSON object'],
    [{ url: `http://10.0.0.7/${'a'.repeat(5000)}` }, 413, 'payload_too_large', '4096 bytes'],
  ])('refuses %j with %i %s', async (body, status, code, message) => {
    const { handler } = setup(withToken);
    const response = await handler(register(body));
    expect(response.status).toBe(status);
    const json = await response.json();
    expect(json.error.code).toBe(code);
    expect(json.error.message).toContain(message);
    expect((await (await handler(list())).json()).servers).toHaveLength(1);
  });

  it('refuses the static upstream URL itself', async () => {
    const { handler } = setup({
      ...withToken,
      TOKENPLACE_RELAY_UPSTREAM_URL: 'http://10.0.0.1:8000',
    });
    const response = await handler(register({ url: 'http://10.0.0.1:8000/' }));
    expect(response.status).toBe(409);
    expect((await response.json()).error.code).toBe('static_upstream');
  });

  it('caps a chunked registration body at 4 KiB while reading it', async () => {
    const { handler } = setup(withToken);
    const big = new TextEncoder().encode(JSON.stringify({ url: 'http://10.0.0.7', name: 'x'.repeat(8000) }));
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(big);
        controller.close();
      },
    });
    const request = new Request('http://relay/relay/servers', {
      method: 'POST',
      headers: { 'x-relay-server-token': TOKEN },
      body,
      duplex: 'half',
    } as RequestInit);
    expect((await handler(request)).status).toBe(413);
  });

  it('answers 405 with Allow for other methods and 404 below an id', async () => {
    const { handler } = setup(withToken);
    const put = await handler(
      new Request('http://relay/relay/servers', { method: 'PUT', headers: { 'x-relay-server-token': TOKEN } }),
    );
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
    const get = await handler(new Request('http://relay/relay/servers/abc', { headers: { 'x-relay-server-token': TOKEN } }));
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('DELETE');
    const deep = await handler(
      new Request('http://relay/relay/servers/a/b', { method: 'DELETE', headers: { 'x-relay-server-token': TOKEN } }),
    );
    expect(deep.status).toBe(404);
  });

  it('refuses more than 64 nodes', async () => {
    const { handler } = setup({ ...withToken, TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '10.0.0.0/8' });
    for (let i = 0; i < 64; i++) expect((await handler(register({ url: `http://10.0.1.${i}:8000` }))).status).toBe(201);
    const response = await handler(register({ url: 'http://10.0.2.1:8000' }));
    expect(response.status).toBe(409);
    expect((await response.json()).error.code).toBe('registry_full');
  });

  it('labels its metrics with the bounded route "servers"', async () => {
    const { handler, metrics } = setup(withToken);
    await handler(list());
    await handler(register({ url: 'http://10.0.0.7:8000' }, 'bad'));
    const text = await metrics.registry.getSingleMetricAsString('tokenplace_relay_requests_total');
    expect(text).toContain('route="servers",status="200"');
    expect(text).toContain('route="servers",status="401"');
    expect(text).not.toContain('/relay');
  });
});

describe('the pool behind the forward path', () => {
  it('spreads requests over the static upstream and registered nodes by relative load', async () => {
    const held: (() => void)[] = [];
    const { handler, seen } = setup({ ...withToken, TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1' }, () => {
      let finish!: () => void;
      const done = new Promise<{ bytes: number }>((resolve) => {
        finish = () => resolve({ bytes: 0 });
      });
      held.push(finish);
      return { ...answer(), done };
    });
    await handler(register({ url: 'http://10.0.0.7:8000', maxConcurrency: 2 }));
    const responses = await Promise.all([1, 2, 3].map(() => handler(new Request('http://relay/v1/generate'))));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(seen.map((request) => request.target.origin).sort()).toEqual([
      'http://10.0.0.7:8000',
      'http://10.0.0.7:8000',
      'http://gpu-server:8000',
    ]);
    // All three slots are taken: the fourth waits in the queue until one finishes.
    const fourth = handler(new Request('http://relay/v1/generate'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen).toHaveLength(3);
    held[0]();
    expect((await fourth).status).toBe(200);
    expect(seen).toHaveLength(4);
  });

  it('retries a GET that could not connect once on another member, and never a POST', async () => {
    const { handler, seen } = setup({ ...withToken }, (request) => {
      if (request.target.origin === 'http://gpu-server:8000') throw new UpstreamError('connect', 'ECONNREFUSED');
      return answer('from node');
    });
    await handler(register({ url: 'http://10.0.0.7:8000' }));
    const get = await handler(new Request('http://relay/v1/models'));
    expect(get.status).toBe(200);
    expect(await get.text()).toBe('from node');
    expect(seen.map((request) => request.target.origin)).toEqual(['http://gpu-server:8000', 'http://10.0.0.7:8000']);

    // Equally loaded members take turns: the next request goes to the node, the one after to the static upstream.
    expect((await handler(new Request('http://relay/v1/models'))).status).toBe(200);
    seen.length = 0;
    const post = await handler(new Request('http://relay/v1/chat', { method: 'POST', body: '{}' }));
    expect(seen.map((request) => request.target.origin)).toEqual(['http://gpu-server:8000']);
    expect(post.status).toBe(502);
  });

  it('does not retry a failure after the upstream was reached (timeout, reset)', async () => {
    const { handler, seen } = setup({ ...withToken }, () => {
      throw new UpstreamError('reset', 'ECONNRESET');
    });
    await handler(register({ url: 'http://10.0.0.7:8000' }));
    expect((await handler(new Request('http://relay/v1/models'))).status).toBe(502);
    expect(seen).toHaveLength(1);
  });

  it('ejects a member that keeps failing to connect, then sends it traffic again after the back-off', async () => {
    let staticDown = true;
    const { handler, seen, clock, metrics } = setup(
      { ...withToken, TOKENPLACE_RELAY_UPSTREAM_EJECT_AFTER: '2', TOKENPLACE_RELAY_UPSTREAM_EJECT_BACKOFF_MS: '1000' },
      (request) => {
        if (staticDown && request.target.origin === 'http://gpu-server:8000') throw new UpstreamError('connect', 'refused');
        return answer();
      },
    );
    await handler(register({ url: 'http://10.0.0.7:8000' }));
    // POSTs are not retried: those that land on the static upstream fail until it is ejected.
    for (let i = 0; i < 4; i++) await (await handler(new Request('http://relay/x', { method: 'POST', body: 'a' }))).text();
    const listing = await (await handler(list())).json();
    expect(listing.servers[0]).toMatchObject({ id: 'static', state: 'ejected', consecutiveFailures: 2, ejectedForSeconds: 1 });
    expect(await metrics.registry.getSingleMetricAsString('tokenplace_relay_upstream_ejections_total')).toContain(
      'member="static"} 1',
    );

    seen.length = 0;
    for (let i = 0; i < 3; i++)
      expect((await handler(new Request('http://relay/x', { method: 'POST', body: 'a' }))).status).toBe(200);
    expect(seen.every((request) => request.target.origin === 'http://10.0.0.7:8000')).toBe(true);

    staticDown = false;
    clock.advance(1000);
    seen.length = 0;
    for (let i = 0; i < 2; i++) await (await handler(new Request('http://relay/x', { method: 'POST', body: 'a' }))).text();
    expect(seen.map((request) => request.target.origin)).toContain('http://gpu-server:8000');
    expect((await (await handler(list())).json()).servers[0]).toMatchObject({ state: 'healthy', consecutiveFailures: 0 });
  });

  it('answers 503 with Retry-After and a JSON error when the queue is full, without calling the upstream', async () => {
    const { handler, seen, metrics } = setup(
      {
        TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
        TOKENPLACE_RELAY_QUEUE_LENGTH: '0',
        TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '5000',
      },
      () => ({ ...answer(), done: new Promise(() => {}) }),
    );
    expect((await handler(new Request('http://relay/a'))).status).toBe(200);
    const refused = await handler(new Request('http://relay/b'));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.headers.get('content-type')).toContain('application/json');
    expect((await refused.json()).error.code).toBe('queue_full');
    expect(seen).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('tokenplace_relay_admission_rejections_total')).toContain(
      'reason="queue_full"} 1',
    );
  });

  it('answers 503 queue_timeout when the wait runs out', async () => {
    const { handler, clock, seen } = setup(
      { TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1', TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '2000' },
      () => ({ ...answer(), done: new Promise(() => {}) }),
    );
    await handler(new Request('http://relay/a'));
    const waiting = handler(new Request('http://relay/b'));
    await new Promise((resolve) => setTimeout(resolve, 0));
    clock.advance(2000);
    const response = await waiting;
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('2');
    expect((await response.json()).error.code).toBe('queue_timeout');
    expect(seen).toHaveLength(1);
  });
});

describe('the /metrics token', () => {
  it('requires Authorization: Bearer <token> when TOKENPLACE_METRICS_TOKEN is set', async () => {
    const { handler } = setup({ TOKENPLACE_METRICS_TOKEN: 'scrape' });
    for (const authorization of [undefined, 'Bearer nope', 'Basic c2NyYXBl', 'scrape', 'Bearer scrape extra']) {
      const response = await handler(new Request('http://relay/metrics', { headers: authorization ? { authorization } : {} }));
      expect(response.status, String(authorization)).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      expect((await response.json()).error.code).toBe('unauthorized');
    }
    const ok = await handler(new Request('http://relay/metrics', { headers: { authorization: 'Bearer scrape' } }));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('tokenplace_relay_queue_depth 0');
  });

  it('leaves /metrics open without the setting, and never guards the probes', async () => {
    const { handler } = setup();
    expect((await handler(new Request('http://relay/metrics'))).status).toBe(200);
    const guarded = setup({ TOKENPLACE_METRICS_TOKEN: 'scrape' }).handler;
    expect((await guarded(new Request('http://relay/livez'))).status).toBe(200);
  });
});

describe('CORS', () => {
  const cors = { TOKENPLACE_RELAY_CORS_ORIGINS: 'https://app.example' };

  it('answers preflights itself, never forwarding them', async () => {
    const { handler, seen } = setup(cors);
    const preflight = (origin: string) =>
      handler(
        new Request('http://relay/v1/chat', {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
        }),
      );
    const allowed = await preflight('https://app.example');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-allow-headers')).toBe('content-type');
    expect(allowed.headers.get('vary')).toContain('Origin');
    const refused = await preflight('https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.has('access-control-allow-origin')).toBe(false);
    expect((await refused.json()).error.code).toBe('cors_not_allowed');
    expect(seen).toHaveLength(0);
  });

  it('adds the allow headers and Vary: Origin to forwarded answers and the relay’s own errors', async () => {
    const { handler } = setup(
      { ...cors, TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1', TOKENPLACE_RELAY_QUEUE_LENGTH: '0' },
      () => ({
        ...answer(),
        done: new Promise(() => {}),
      }),
    );
    const origin = { origin: 'https://app.example' };
    const forwarded = await handler(new Request('http://relay/v1/models', { headers: origin }));
    expect(forwarded.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(forwarded.headers.get('vary')).toBe('Origin');
    const busy = await handler(new Request('http://relay/v1/models', { headers: origin }));
    expect(busy.status).toBe(503);
    expect(busy.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(busy.headers.get('access-control-expose-headers')).toContain('retry-after');
  });

  it('forwards OPTIONS untouched when CORS is off', async () => {
    const { handler, seen } = setup();
    await handler(
      new Request('http://relay/v1/chat', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      }),
    );
    expect(seen).toHaveLength(1);
  });
});
