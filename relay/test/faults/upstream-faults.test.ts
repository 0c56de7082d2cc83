/**
 * Fault suite, upstream side: the GPU host refuses, hangs, resets, answers garbage, or cuts an
 * SSE stream. Each case checks what the client sees, what the upstream saw, and that the relay
 * is healthy afterwards. Real processes and sockets, all on 127.0.0.1.
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, within } from '../helpers/async.ts';
import { openStream, send } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

let upstream: TestUpstream;
let relay: RelayProcess;

beforeAll(async () => {
  upstream = await startUpstream();
  relay = await startRelay({
    TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
    TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS: '500',
    TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS: '2000',
  });
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

async function upstreamErrors(kind: string): Promise<number> {
  return sampleValue(await scrape(relay.port), 'tokenplace_relay_upstream_errors_total', { kind }) ?? Number.NaN;
}

describe('upstream faults', () => {
  it('upstream refuses connections: 502 upstream_unavailable, then serves again once it listens', async () => {
    const port = await closedPort();
    const refused = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${port}` });
    // More failures than the ejection threshold: a lone upstream is still tried (never an empty pool).
    for (let i = 0; i < 4; i++) {
      expectJsonError(await send(refused.port, { path: '/v1/models' }), 502, 'upstream_unavailable');
    }
    // What the upstream saw: nothing listened, so nothing; the relay counted connect failures.
    expect(sampleValue(await scrape(refused.port), 'tokenplace_relay_upstream_errors_total', { kind: 'connect' })).toBe(4);

    // The GPU host comes back on the same port: the relay forwards again.
    const seen: string[] = [];
    const server: Server = createServer((socket) => {
      socket.once('data', (chunk) => {
        seen.push(chunk.toString('latin1').split('\r\n')[0]);
        socket.end('HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nback');
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      const res = await within(
        (async () => {
          for (;;) {
            const attempt = await send(refused.port, { path: '/v1/models' });
            if (attempt.status === 200) return attempt;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        })(),
        15_000,
        'the relay to reach the upstream again',
      );
      expect(res.body.toString()).toBe('back');
      expect(seen.at(-1)).toBe('GET /v1/models HTTP/1.1');
      await expectHealthy(refused);
      expectNoCrashLogged(refused);
    } finally {
      server.close();
      await refused.stop();
    }
  });

  it('upstream hangs before headers: 504 upstream_timeout, and the relay closes the upstream request', async () => {
    const closed = deferred();
    upstream.handle((req, res) => {
      req.resume();
      res.once('close', () => closed.resolve());
    });
    const before = upstream.requests.length;
    const res = await send(relay.port, { path: '/v1/chat/completions', method: 'POST', body: '{"stream":false}' });
    expectJsonError(res, 504, 'upstream_timeout');
    expect(upstream.requests.length).toBe(before + 1);
    expect(upstream.requests.at(-1)?.body.toString()).toBe('{"stream":false}');
    await within(closed.promise, 5_000, 'the relay to close the hung upstream request');
    await expectHealthy(relay, upstream);
  });

  it('upstream resets mid-stream: the client gets what was sent, then a cut-off response (never a clean end)', async () => {
    const before = await upstreamErrors('reset');
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      setTimeout(() => req.socket.resetAndDestroy(), 100);
    });
    const stream = await openStream(relay.port, { path: '/v1/chat/completions' });
    expect(stream.res.statusCode).toBe(200);
    await stream.waitFor('data: one', 5_000);
    await expect(within(stream.ended, 5_000, 'the cut-off response')).rejects.toThrow(/cut off|aborted|ECONNRESET/);
    expect(stream.received()).toBe('data: one\n\n');
    expect(upstream.requests.at(-1)?.url).toBe('/v1/chat/completions');
    expect(await upstreamErrors('reset')).toBe(before + 1);
    await expectHealthy(relay, upstream);
  });

  it.each([
    ['an invalid status line', 'HTTP/1.1 2OO OK\r\n\r\n'],
    ['a header with a control byte', 'HTTP/1.1 200 OK\r\nx-bad: a\u0001b\r\ncontent-length: 2\r\n\r\nok'],
    ['conflicting content-lengths', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 9\r\n\r\nok'],
  ])('upstream sends a malformed response (%s): 502 upstream_bad_response', async (_, bytes) => {
    const before = await upstreamErrors('protocol');
    const count = upstream.requests.length;
    upstream.handle((req) => {
      req.resume();
      req.socket.end(bytes);
    });
    const res = await send(relay.port, { path: '/v1/models' });
    expectJsonError(res, 502, 'upstream_bad_response');
    expect(upstream.requests.length).toBe(count + 1);
    expect(await upstreamErrors('protocol')).toBe(before + 1);
    await expectHealthy(relay, upstream);
  });

  it('upstream closes an SSE stream early: the client gets every event sent, then a cut-off response', async () => {
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: {"token":"Hel"}\n\n');
      res.write('data: {"token":"lo"}\n\n');
      // The GPU host's process dies: the connection closes without the last chunk.
      setTimeout(() => req.socket.end(), 100);
    });
    const stream = await openStream(relay.port, { path: '/v1/chat/completions', headers: { accept: 'text/event-stream' } });
    expect(stream.res.headers['content-type']).toBe('text/event-stream');
    await expect(within(stream.ended, 5_000, 'the cut-off stream')).rejects.toThrow();
    expect(stream.received()).toBe('data: {"token":"Hel"}\n\ndata: {"token":"lo"}\n\n');
    expect(upstream.requests.at(-1)?.headers.accept).toBe('text/event-stream');
    await expectHealthy(relay, upstream);
    expectNoCrashLogged(relay);
  });
});
