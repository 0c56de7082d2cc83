/**
 * Fault suite, shutdown under load: SIGTERM arrives while 100 requests are in flight, 30 of them
 * streaming SSE and 50 of them still waiting in the admission queue. Every one completes; no
 * client sees a reset; the process exits 0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { deferred, eventually, within } from '../helpers/async.ts';
import { type ClientResponse, getJson, openStream, send } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

let upstream: TestUpstream | undefined;

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

describe('SIGTERM with 100 requests in flight', () => {
  it('completes every request (streams included, queued ones too) with zero resets, then exits 0', {
    timeout: 90_000,
  }, async () => {
    const STREAMS = 30;
    const PLAIN = 70;
    const CAPACITY = 50;
    upstream = await startUpstream();
    const gate = deferred();
    upstream.handle((req, res) => {
      req.resume();
      if (req.url?.startsWith('/v1/stream')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        void gate.promise.then(() => res.end('data: last\n\n'));
      } else {
        void gate.promise.then(() => res.end(JSON.stringify({ url: req.url })));
      }
    });
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: String(CAPACITY),
      TOKENPLACE_RELAY_QUEUE_LENGTH: '100',
      TOKENPLACE_RELAY_DRAIN_SECONDS: '0.5',
      TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS: '30',
    });

    // 30 streams first (each has its first event before SIGTERM), then 70 plain requests: 20 reach the upstream, 50 queue.
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => openStream(relay.port, { path: `/v1/stream/${i}` }, 20_000)),
    );
    for (const stream of streams) await stream.waitFor('data: first', 10_000);
    const plain: Promise<ClientResponse>[] = Array.from({ length: PLAIN }, (_, i) =>
      send(relay.port, { path: `/v1/plain/${i}` }, 60_000),
    );
    for (const response of plain) response.catch(() => undefined);
    await eventually(
      async () => {
        const samples = await scrape(relay.port);
        return upstream?.requests.length === CAPACITY && sampleValue(samples, 'tokenplace_relay_queue_depth') === 50
          ? true
          : undefined;
      },
      20_000,
      '50 requests at the upstream and 50 in the queue',
    );

    relay.child.kill('SIGTERM');
    // Readiness fails during the drain while the requests keep going.
    await eventually(
      async () => ((await getJson(relay.port, '/healthz')).status === 503 ? true : undefined),
      5_000,
      'readiness to fail',
    );
    await relay.waitForLog((line) => line.phase === 'stopping', 10_000, 'the stopping phase');
    gate.resolve();

    const plainResults = await within(Promise.allSettled(plain), 30_000, 'every plain request to finish');
    const streamResults = await within(
      Promise.allSettled(streams.map((stream) => stream.ended)),
      30_000,
      'every stream to finish',
    );
    const failures = [...plainResults, ...streamResults].filter((result) => result.status === 'rejected');
    expect(failures.map((failure) => String((failure as PromiseRejectedResult).reason))).toEqual([]);
    plainResults.forEach((result, i) => {
      const res = (result as PromiseFulfilledResult<ClientResponse>).value;
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString()).url).toBe(`/v1/plain/${i}`);
    });
    for (const result of streamResults) {
      expect((result as PromiseFulfilledResult<string>).value).toBe('data: first\n\ndata: last\n\n');
    }
    expect(upstream.requests).toHaveLength(STREAMS + PLAIN);

    const exit = await within(relay.exited, 30_000, 'the relay to exit');
    expect(exit).toEqual({ code: 0, signal: null });
    const stopped = relay.logs().find((line) => line.msg === 'relay stopped');
    expect(stopped?.clean).toBe(true);
  });
});
