/**
 * Fault suite, registration: a wrong token, an expired lease, disallowed URLs, credentials in a
 * URL, and a registered node that goes down (ejected) and comes back (recovered). Real relay and
 * upstream processes; every node address is on 127.0.0.1 (allowed explicitly for the test).
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/async.ts';
import { send } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

const TOKEN = 'fault-suite-node-token-7d1e';

let primary: TestUpstream;
let node: TestUpstream;
let relay: RelayProcess;

beforeAll(async () => {
  [primary, node] = await Promise.all([startUpstream(), startUpstream()]);
  relay = await startRelay({
    TOKENPLACE_RELAY_UPSTREAM_URL: primary.url,
    TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN,
    TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '127.0.0.1/32',
    TOKENPLACE_RELAY_SERVER_LEASE_SECONDS: '2',
    TOKENPLACE_RELAY_UPSTREAM_EJECT_AFTER: '2',
    TOKENPLACE_RELAY_UPSTREAM_EJECT_BACKOFF_MS: '500',
  });
});

afterAll(async () => {
  await stopAllRelays();
  await Promise.all([primary?.close(), node?.close()]);
});

function post(body: unknown, token: string | null = TOKEN) {
  return send(relay.port, {
    method: 'POST',
    path: '/relay/servers',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { 'x-relay-server-token': token }) },
    body: JSON.stringify(body),
  });
}

async function listing(): Promise<{ servers: { id: string; state: string; consecutiveFailures: number; url: string }[] }> {
  const res = await send(relay.port, { path: '/relay/servers', headers: { 'x-relay-server-token': TOKEN } });
  expect(res.status).toBe(200);
  return JSON.parse(res.body.toString());
}

async function remove(id: string): Promise<void> {
  const res = await send(relay.port, {
    method: 'DELETE',
    path: `/relay/servers/${id}`,
    headers: { 'x-relay-server-token': TOKEN },
  });
  expect([204, 404]).toContain(res.status);
}

/** Sends GETs until the given upstream has seen n more requests (or fails after a bound). */
async function requestsUntil(target: { requests: unknown[] }, more: number): Promise<void> {
  const goal = target.requests.length + more;
  for (let i = 0; i < 40 && target.requests.length < goal; i++) {
    expect((await send(relay.port, { path: '/v1/models' })).status).toBe(200);
  }
  expect(target.requests.length).toBeGreaterThanOrEqual(goal);
}

describe('registration faults', () => {
  it('a wrong or missing token gets 401; the pool is unchanged and the node never sees traffic', async () => {
    const before = node.requests.length;
    for (const token of [null, 'wrong-token', `${TOKEN}x`, TOKEN.slice(1)]) {
      expectJsonError(await post({ url: node.url }, token), 401, 'invalid_server_token');
    }
    const bad = await send(relay.port, { path: '/relay/servers', headers: { 'x-relay-server-token': 'guess' } });
    expectJsonError(bad, 401, 'invalid_server_token');
    expect((await listing()).servers.map((s) => s.id)).toEqual(['static']);
    for (let i = 0; i < 4; i++) expect((await send(relay.port, { path: '/v1/models' })).status).toBe(200);
    expect(node.requests.length).toBe(before);
    await expectHealthy(relay, primary);
    // The token never reaches a log line.
    expect(relay.stdout()).not.toContain(TOKEN);
  });

  it.each([
    ['a public address', 'http://8.8.8.8:8000', 'is not inside any CIDR of TOKENPLACE_RELAY_ALLOWED_UPSTREAMS'],
    ['a private address outside the list', 'http://10.0.0.7:8000', 'is not inside any CIDR'],
    ['a host name not on the list', 'http://gpu.example.org:8000', 'is not a host name listed'],
    ['the metadata address', 'http://169.254.169.254/latest', 'is never allowed'],
    ['a non-http scheme', 'file:///etc/passwd', 'absolute http:// or https:// URL'],
  ])('a disallowed URL (%s) gets 400 with the reason; nothing is contacted', async (_, url, reason) => {
    const res = await post({ url });
    expectJsonError(res, 400, 'upstream_not_allowed');
    expect(JSON.parse(res.body.toString()).error.message).toContain(reason);
    expect((await listing()).servers.map((s) => s.id)).toEqual(['static']);
    await expectHealthy(relay, primary);
  });

  it('credentials in the URL get 400, and the credentials are not echoed or logged', async () => {
    const res = await post({ url: `http://admin:hunter2@127.0.0.1:${node.port}` });
    expectJsonError(res, 400, 'upstream_not_allowed');
    expect(res.body.toString()).toContain('must not carry credentials');
    expect(res.body.toString()).not.toContain('hunter2');
    expect(relay.stdout()).not.toContain('hunter2');
    expect((await listing()).servers.map((s) => s.id)).toEqual(['static']);
    await expectHealthy(relay, primary);
  });

  it('a node whose lease expires leaves the pool and gets no more traffic', async () => {
    const registered = await post({ url: node.url, name: 'lease-test', maxConcurrency: 2 });
    expect(registered.status).toBe(201);
    const { id, leaseSeconds } = JSON.parse(registered.body.toString());
    expect(leaseSeconds).toBe(2);
    // Equally idle members take turns: the node gets traffic while its lease runs.
    await requestsUntil(node, 2);

    await eventually(
      async () => ((await listing()).servers.some((s) => s.id === id) ? undefined : true),
      10_000,
      'the lease to expire',
    );
    const before = node.requests.length;
    const primaryBefore = primary.requests.length;
    for (let i = 0; i < 6; i++) expect((await send(relay.port, { path: '/v1/models' })).status).toBe(200);
    expect(node.requests.length).toBe(before);
    expect(primary.requests.length).toBe(primaryBefore + 6);
    await expectHealthy(relay, primary);
  });

  it('a node that stops answering is ejected (GETs retried elsewhere), then recovers once it is back', async () => {
    const port = await closedPort();
    const registered = await post({ url: `http://127.0.0.1:${port}`, name: 'flaky' });
    expect(registered.status).toBe(201);
    const { id } = JSON.parse(registered.body.toString());
    const renew = setInterval(() => void post({ url: `http://127.0.0.1:${port}`, name: 'flaky' }).catch(() => undefined), 500);
    let server: Server | undefined;
    try {
      // Every GET succeeds: one that lands on the dead node is retried once on the static upstream.
      for (let i = 0; i < 6; i++) expect((await send(relay.port, { path: '/v1/models' })).status).toBe(200);
      const ejected = (await listing()).servers.find((s) => s.id === id);
      expect(ejected).toMatchObject({ state: 'ejected' });
      expect(ejected?.consecutiveFailures).toBeGreaterThanOrEqual(2);
      const samples = await scrape(relay.port);
      expect(sampleValue(samples, 'tokenplace_relay_upstream_ejections_total', { member: 'registered' })).toBeGreaterThanOrEqual(
        1,
      );
      expect(sampleValue(samples, 'tokenplace_relay_upstream_members', { state: 'ejected' })).toBe(1);

      // The node comes back on its port; after the back-off it gets traffic again and is healthy.
      let seen = 0;
      server = createServer((req, res) => {
        seen++;
        req.resume();
        res.end('{"from":"recovered node"}');
      });
      await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
      await eventually(
        async () => {
          expect((await send(relay.port, { path: '/v1/models' })).status).toBe(200);
          return seen > 0 ? true : undefined;
        },
        15_000,
        'the recovered node to get traffic',
      );
      const recovered = (await listing()).servers.find((s) => s.id === id);
      expect(recovered).toMatchObject({ state: 'healthy', consecutiveFailures: 0 });
      await expectHealthy(relay);
      expectNoCrashLogged(relay);
    } finally {
      clearInterval(renew);
      await remove(id);
      server?.close();
    }
  });
});

describe('guessing the server token', () => {
  it('after 10 wrong tokens a minute an address gets 429 without a comparison, and the warning is not repeated per attempt', async () => {
    const guarded = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: primary.url, TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await send(guarded.port, {
        method: 'POST',
        path: '/relay/servers',
        headers: { 'content-type': 'application/json', 'x-relay-server-token': `guess-${i}` },
        body: '{"url":"http://10.0.0.7:8000"}',
      });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect(statuses).toEqual([...Array(10).fill(401), ...Array(30).fill(429)]);
    const warnings = guarded
      .logs()
      .filter((line) => line.msg === 'compute-node registration refused: wrong or missing server token');
    expect(warnings.length).toBeLessThanOrEqual(2);
    // Forwarding is untouched.
    await expectHealthy(guarded, primary);
  });
});
