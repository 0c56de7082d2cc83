/**
 * Fault suite, overload: more clients than the GPU host has room for. Exactly the configured
 * number reach the upstream at once, the rest wait in the queue or get 503 with Retry-After,
 * none hang and none are lost; a client that leaves the queue never reaches the upstream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { deferred, eventually, within } from '../helpers/async.ts';
import { type ClientResponse, send } from '../helpers/http-client.ts';
import { type Sample, sampleValue, scrape } from '../helpers/metrics.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { type RecordedRequest, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { stopRelaysAndUpstreamsAfterEach } from './cleanup.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

let upstream: TestUpstream | undefined;

stopRelaysAndUpstreamsAfterEach();

/** An upstream that holds every request until the gate opens, and records how many it had at once. */
async function gatedUpstream() {
  const server = await startUpstream();
  const gate = deferred();
  let current = 0;
  let peak = 0;
  server.handle((req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => {
    current++;
    peak = Math.max(peak, current);
    req.resume();
    void gate.promise.then(async () => {
      await recorded.settled;
      // Hold each answer a moment, so requests admitted after the gate opens overlap for real.
      await new Promise((resolve) => setTimeout(resolve, 5));
      current--;
      if (res.destroyed) return;
      const body = JSON.stringify({ id: req.headers['x-request-id'] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return {
    server,
    open: () => gate.resolve(),
    get peak() {
      return peak;
    },
  };
}

async function metricsWhen(port: number, what: string, check: (samples: Sample[]) => boolean, ms = 15_000): Promise<Sample[]> {
  return eventually(
    async () => {
      const samples = await scrape(port);
      return check(samples) ? samples : undefined;
    },
    ms,
    what,
  );
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels) ?? 0;

describe('overload', () => {
  it('200 concurrent clients against capacity 2: 2 at the upstream at once, 50 queue, 148 get 503, none hang or get lost', async () => {
    const CLIENTS = 200;
    const CAPACITY = 2;
    const QUEUE = 50;
    const gated = await gatedUpstream();
    upstream = gated.server;
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: String(CAPACITY),
      TOKENPLACE_RELAY_QUEUE_LENGTH: String(QUEUE),
      TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '60000',
    });

    const ids = Array.from({ length: CLIENTS }, (_, i) => `client-${i}`);
    const responses = ids.map((id) => send(relay.port, { path: '/v1/generate', headers: { 'x-request-id': id } }, 60_000));
    // Outcomes are checked below; a failure before then must not also surface as unhandled rejections.
    for (const response of responses) response.catch(() => undefined);

    // Everyone has arrived: 2 at the upstream, 50 waiting, the rest already answered 503.
    const full = await metricsWhen(
      relay.port,
      'the queue to fill and the overflow to be rejected',
      (samples) =>
        value(samples, 'tokenplace_relay_queue_depth') === QUEUE &&
        value(samples, 'tokenplace_relay_admission_rejections_total', { reason: 'queue_full' }) === CLIENTS - CAPACITY - QUEUE,
    );
    expect(value(full, 'tokenplace_relay_upstream_in_flight', { member: 'static' })).toBe(CAPACITY);
    await eventually(async () => (upstream?.requests.length === CAPACITY ? true : undefined), 5_000, 'two requests upstream');

    gated.open();
    const settled = await within(Promise.allSettled(responses), 30_000, 'every client to get an answer');

    // None hang, none are lost: every client got a complete HTTP response.
    const answered = settled.map((outcome, i) => {
      expect(outcome.status, `client ${i}`).toBe('fulfilled');
      return (outcome as PromiseFulfilledResult<ClientResponse>).value;
    });
    const ok = answered.filter((res) => res.status === 200);
    const busy = answered.filter((res) => res.status === 503);
    expect(ok).toHaveLength(CAPACITY + QUEUE);
    expect(busy).toHaveLength(CLIENTS - CAPACITY - QUEUE);
    for (const res of busy) {
      expectJsonError(res, 503, 'queue_full');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // Each client got its own answer, and the upstream saw exactly the admitted ones, never more than 2 at once.
    for (const res of ok) expect(JSON.parse(res.body.toString()).id).toBe(res.headers['x-request-id']);
    expect(new Set(ok.map((res) => res.headers['x-request-id'])).size).toBe(CAPACITY + QUEUE);
    expect(upstream.requests.map((request) => request.headers['x-request-id']).sort()).toEqual(
      ok.map((res) => res.headers['x-request-id']).sort(),
    );
    expect(gated.peak).toBe(CAPACITY);

    const after = await metricsWhen(
      relay.port,
      'the queue to drain',
      (samples) => value(samples, 'tokenplace_relay_queue_depth') === 0,
    );
    expect(value(after, 'tokenplace_relay_upstream_in_flight', { member: 'static' })).toBe(0);
    expect(value(after, 'tokenplace_relay_queue_wait_seconds_count', { outcome: 'admitted' })).toBe(QUEUE);
    await expectHealthy(relay, upstream);
    expectNoCrashLogged(relay);
  });

  it('queued requests whose wait runs out get 503 queue_timeout and never reach the upstream', async () => {
    const gated = await gatedUpstream();
    upstream = gated.server;
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
      TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '500',
    });
    const first = send(relay.port, { path: '/v1/first' }, 30_000);
    await eventually(async () => (upstream?.requests.length === 1 ? true : undefined), 5_000, 'the first request upstream');
    const waiting = await Promise.all([1, 2, 3].map(() => send(relay.port, { path: '/v1/waits' }, 10_000)));
    for (const res of waiting) {
      expectJsonError(res, 503, 'queue_timeout');
      expect(res.headers['retry-after']).toBe('1');
    }
    expect(upstream.requests).toHaveLength(1);
    const samples = await scrape(relay.port);
    expect(value(samples, 'tokenplace_relay_admission_rejections_total', { reason: 'queue_timeout' })).toBe(3);
    expect(value(samples, 'tokenplace_relay_queue_wait_seconds_count', { outcome: 'timeout' })).toBe(3);
    gated.open();
    expect((await first).status).toBe(200);
    await expectHealthy(relay, upstream);
  });

  it('a client that disconnects while queued leaves the queue and never reaches the upstream', async () => {
    const gated = await gatedUpstream();
    upstream = gated.server;
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
    });
    const first = send(relay.port, { path: '/v1/first' }, 30_000);
    await eventually(async () => (upstream?.requests.length === 1 ? true : undefined), 5_000, 'the first request upstream');

    const leaving = send(relay.port, { path: '/v1/leaves', headers: { 'x-request-id': 'leaver' } }, 300);
    await metricsWhen(relay.port, 'the request to be queued', (samples) => value(samples, 'tokenplace_relay_queue_depth') === 1);
    // The client gives up (send destroys its socket when its 300 ms run out).
    await expect(leaving).rejects.toThrow(/timed out/);
    const left = await metricsWhen(
      relay.port,
      'the queue to empty',
      (samples) => value(samples, 'tokenplace_relay_queue_depth') === 0,
    );
    expect(value(left, 'tokenplace_relay_queue_wait_seconds_count', { outcome: 'abandoned' })).toBe(1);

    gated.open();
    expect((await first).status).toBe(200);
    await expectHealthy(relay, upstream);
    expect(upstream.requests.map((request) => request.url)).toEqual(['/v1/first', '/after-the-fault']);
    const line = await relay.waitForLog((l) => l.requestId === 'leaver', 3_000, 'the log line of the leaver');
    expect(line.status).toBe(499);
  });
});
