import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, eventually } from '../helpers/async.ts';
import { openStream, send } from '../helpers/http-client.ts';
import { parseExposition, type Sample, sampleValue, scrape } from '../helpers/metrics.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

/** Every secret a request or the configuration carries in this test; none may reach a log line. */
const SECRETS = {
  serverToken: 'srv-tok-4d1c9a7e',
  authorization: 'auth-tok-b2e8f310',
  cookie: 'cookie-tok-77c1d0aa',
  relayHeader: 'relay-hdr-tok-5e0f',
  queryToken: 'query-tok-c0ffee11',
  queryAccessToken: 'query-tok-access-22',
  queryApiKey: 'query-key-9a9a9a',
  setCookie: 'set-cookie-tok-e4e4',
};

describe('JSON request logs without secrets', () => {
  let relay: RelayProcess;

  beforeAll(async () => {
    relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKEN_PLACE_RELAY_SERVER_TOKEN: SECRETS.serverToken,
      // Debug also logs probe requests, so every line the relay can write is checked.
      TOKENPLACE_RELAY_LOG_LEVEL: 'debug',
    });
  });

  it('writes one parseable JSON line per request with the agreed fields, and never a token', async () => {
    upstream.handle((req, res, recorded) => {
      req.resume();
      void recorded.settled.then(() => {
        res.setHeader('set-cookie', `session=${SECRETS.setCookie}; HttpOnly`);
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });

    const first = await send(relay.port, {
      path: `/v1/models?token=${SECRETS.queryToken}&access_token=${SECRETS.queryAccessToken}&model=llama`,
      headers: {
        authorization: `Bearer ${SECRETS.authorization}`,
        cookie: `session=${SECRETS.cookie}`,
        'x-relay-server-token': SECRETS.relayHeader,
        'x-request-id': 'log-get-1',
      },
    });
    expect(first.status).toBe(200);
    const upstreamSaw = upstream.requests.at(-1);
    // The relay is transparent for end-to-end credentials: they were really in play.
    expect(upstreamSaw?.headers.authorization).toBe(`Bearer ${SECRETS.authorization}`);
    expect(upstreamSaw?.headers.cookie).toBe(`session=${SECRETS.cookie}`);

    const second = await send(relay.port, {
      method: 'POST',
      path: `/v1/chat/completions?api_key=${SECRETS.queryApiKey}`,
      headers: {
        'content-type': 'application/json',
        'x-request-id': 'log-post-2',
        authorization: `Bearer ${SECRETS.authorization}`,
      },
      body: '{"messages":[]}',
    });
    expect(second.status).toBe(200);
    expect((await send(relay.port, { path: `/healthz?token=${SECRETS.queryToken}` })).status).toBe(200);

    await relay.waitForLog((line) => line.requestId === 'log-post-2', 3_000, 'the POST log line');
    expect(await relay.stop()).toEqual({ code: 0, signal: null });

    // logs() throws on any line that is not JSON.
    const logs = relay.logs();
    expect(logs.length).toBeGreaterThan(4);
    for (const line of logs) {
      expect(line).toMatchObject({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) });
    }

    const forGet = logs.filter((line) => line.requestId === 'log-get-1');
    expect(forGet).toHaveLength(1);
    expect(forGet[0]).toMatchObject({
      msg: 'request',
      method: 'GET',
      route: 'proxy',
      path: '/v1/models',
      status: 200,
      durationMs: expect.any(Number),
      bytes: first.body.length,
      requestId: 'log-get-1',
      upstream: upstream.url,
    });
    expect(forGet[0].query).toContain('model=llama');
    expect(forGet[0].query).toContain('token=***');

    const forPost = logs.filter((line) => line.requestId === 'log-post-2');
    expect(forPost).toHaveLength(1);
    expect(forPost[0]).toMatchObject({ method: 'POST', route: 'proxy', status: 200, bytes: second.body.length });

    const probes = logs.filter((line) => line.msg === 'request' && line.route === 'healthz');
    expect(probes).toHaveLength(1);

    const listening = logs.find((line) => line.msg === 'relay listening');
    expect(listening?.config).toMatchObject({ serverTokenConfigured: true });

    const everything = relay.stdout() + relay.stderr();
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(everything.includes(secret), `${name} leaked into the logs`).toBe(false);
    }
  });
});

describe('Prometheus metrics after real traffic', () => {
  let relay: RelayProcess;
  const HOLD_MS = 300;

  beforeAll(async () => {
    relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url });
  });

  const relaySamples = (samples: Sample[]) => samples.filter((sample) => sample.name.startsWith('tokenplace_relay_'));

  it('counts requests with bounded labels, times whole streams and counts upstream errors by kind', async () => {
    upstream.handle((req, res, recorded) => {
      if (recorded.url.startsWith('/v1/models')) return echo(req, res, recorded);
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"no such thing"}');
    });
    const paths = ['/v1/models', '/v1/models?page=2', '/users/8f1e/private/notes?id=42', '/a/b/c/d/e/f'];
    for (const path of paths) await send(relay.port, { path });
    await send(relay.port, { method: 'PURGE', path: '/v1/models' });

    upstream.handle((req) => req.socket.resetAndDestroy());
    expect((await send(relay.port, { path: '/v1/models' })).status).toBe(502);

    // A stream held open for HOLD_MS: in flight while it runs, and timed until its last byte.
    const release = deferred();
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      void release.promise.then(() => res.end('data: [DONE]\n\n'));
    });
    const stream = await openStream(relay.port, { path: '/v1/chat/completions', method: 'POST', body: '{}' });
    await stream.waitFor('data: first', 3_000);
    const during = await scrape(relay.port);
    expect(sampleValue(during, 'tokenplace_relay_requests_in_flight', { route: 'proxy' })).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    release.resolve();
    await stream.ended;
    await send(relay.port, { path: '/livez' });
    await send(relay.port, { path: '/healthz' });

    const res = await send(relay.port, { path: '/metrics' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    // The stream's request is recorded when its body finishes, just after the client saw the end.
    const samples = await eventually(
      async () => {
        const now = await scrape(relay.port);
        const posts = sampleValue(now, 'tokenplace_relay_requests_total', { method: 'POST', route: 'proxy', status: '200' });
        return posts === 1 ? now : undefined;
      },
      2_000,
      'the streamed POST to be counted',
    );
    const ours = relaySamples(samples);

    // Route labels are the relay's own route names or "proxy", never a raw path.
    const routes = new Set(ours.filter((sample) => 'route' in sample.labels).map((sample) => sample.labels.route));
    expect([...routes].every((route) => ['livez', 'healthz', 'metrics', 'proxy'].includes(route))).toBe(true);
    expect(routes.has('proxy')).toBe(true);
    for (const sample of ours) {
      for (const value of Object.values(sample.labels)) expect(value, sample.name).not.toMatch(/\/|private|notes/);
    }

    const total = (labels: Record<string, string>) => sampleValue(samples, 'tokenplace_relay_requests_total', labels);
    expect(total({ method: 'GET', route: 'proxy', status: '200' })).toBe(2);
    expect(total({ method: 'GET', route: 'proxy', status: '404' })).toBe(2);
    expect(total({ method: 'OTHER', route: 'proxy', status: '200' })).toBe(1);
    expect(total({ method: 'GET', route: 'proxy', status: '502' })).toBe(1);
    expect(total({ method: 'POST', route: 'proxy', status: '200' })).toBe(1);
    expect(total({ method: 'GET', route: 'livez', status: '200' })).toBe(1);
    expect(total({ method: 'GET', route: 'healthz', status: '200' })).toBe(1);

    const errors = (kind: string) => sampleValue(samples, 'tokenplace_relay_upstream_errors_total', { kind });
    expect({
      connect: errors('connect'),
      timeout: errors('timeout'),
      reset: errors('reset'),
      protocol: errors('protocol'),
    }).toEqual({ connect: 0, timeout: 0, reset: 1, protocol: 0 });

    expect(sampleValue(samples, 'tokenplace_relay_requests_in_flight', { route: 'proxy' })).toBe(0);
    const post = { method: 'POST', route: 'proxy' };
    expect(sampleValue(samples, 'tokenplace_relay_request_duration_seconds_count', post)).toBe(1);
    expect(sampleValue(samples, 'tokenplace_relay_request_duration_seconds_sum', post)).toBeGreaterThanOrEqual(HOLD_MS / 1000);
    expect(sampleValue(samples, 'tokenplace_relay_request_duration_seconds_bucket', { ...post, le: '0.25' })).toBe(0);

    expect(sampleValue(samples, 'process_open_fds')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'process_max_fds')).toBeGreaterThan(0);
    expect(parseExposition(res.body.toString()).length).toBeGreaterThan(0);
  });
});
