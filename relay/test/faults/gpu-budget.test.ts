/**
 * Fault suite, the GPU budget: clients that abandon their requests, or stop reading their
 * answers, never make the GPU host run more requests than its capacity, and never hold a slot
 * forever.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { deferred, eventually, within } from '../helpers/async.ts';
import { send } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { stopRelaysAndUpstreamsAfterEach } from './cleanup.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

const TOKEN = 'gpu-budget-node-token-51c2';

let upstream: TestUpstream | undefined;

stopRelaysAndUpstreamsAfterEach();

/**
 * A GPU host that works on each request for generationMs whatever happens to the connection
 * (like llama.cpp, it only notices a gone client when it writes the answer), and counts how
 * many generations ran at once.
 */
async function busyGpu(generationMs: number) {
  const server = await startUpstream();
  let running = 0;
  let peak = 0;
  let finished = 0;
  server.handle((req, res, recorded) => {
    req.resume();
    void recorded.settled.then(() => {
      running++;
      peak = Math.max(peak, running);
      setTimeout(() => {
        running--;
        finished++;
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"choices":[]}');
      }, generationMs);
    });
  });
  return {
    server,
    get peak() {
      return peak;
    },
    get running() {
      return running;
    },
    get finished() {
      return finished;
    },
  };
}

/** Sends a complete non-streaming POST on a raw socket, then closes the socket after ms. */
async function postAndAbandon(port: number, ms: number): Promise<void> {
  const body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.destroy();
}

describe('the GPU budget', () => {
  it('a client that abandons its request keeps the slot taken until the GPU host is done (20 abandoned POSTs, capacity 2)', async () => {
    const gpu = await busyGpu(1_500);
    upstream = gpu.server;
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '2',
      TOKENPLACE_RELAY_QUEUE_LENGTH: '50',
      TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '60000',
    });

    await postAndAbandon(relay.port, 150);
    await postAndAbandon(relay.port, 150);
    // Both clients are gone, both generations still run: the slots are taken, and shown as orphaned
    // (as soon as the relay has told the closed socket from a half-closed one: a write, one round trip).
    const samples = await eventually(
      async () => {
        const now = await scrape(relay.port);
        return sampleValue(now, 'tokenplace_relay_upstream_orphaned', { member: 'static' }) === 2 ? now : undefined;
      },
      1_000,
      'both slots to show as orphaned',
    );
    expect(sampleValue(samples, 'tokenplace_relay_upstream_in_flight', { member: 'static' })).toBe(2);

    for (let i = 2; i < 20; i++) await postAndAbandon(relay.port, 150);
    await eventually(async () => (gpu.running === 0 ? true : undefined), 10_000, 'the GPU host to finish');
    expect(gpu.peak).toBeLessThanOrEqual(2);
    // Every generation that ran ended, and the relay gave the slots back.
    await eventually(
      async () => {
        const after = await scrape(relay.port);
        return sampleValue(after, 'tokenplace_relay_upstream_in_flight', { member: 'static' }) === 0 &&
          sampleValue(after, 'tokenplace_relay_upstream_orphaned', { member: 'static' }) === 0
          ? true
          : undefined;
      },
      5_000,
      'the slots to be free again',
    );
    await within(expectHealthy(relay, upstream), 5_000, 'the relay to be healthy');
    expectNoCrashLogged(relay);
  });

  it('a client that stops reading is cut off after the idle timeout and its slot freed (capacity 1)', async () => {
    upstream = await startUpstream();
    const upstreamClosed = deferred();
    const chunk = Buffer.alloc(64 * 1024, 'x');
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // An endless stream, written as fast as the relay takes it.
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      res.once('close', () => upstreamClosed.resolve());
      pump();
    });
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
      TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS: '1000',
    });

    const socket = connect(relay.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write('GET /v1/stream HTTP/1.1\r\nHost: relay\r\n\r\n');
    // Never reads a byte.
    socket.pause();
    try {
      await within(upstreamClosed.promise, 15_000, 'the relay to cut the exchange of the client that stopped reading');
      await eventually(
        async () =>
          sampleValue(await scrape(relay.port), 'tokenplace_relay_upstream_in_flight', { member: 'static' }) === 0
            ? true
            : undefined,
        5_000,
        'the slot to be freed',
      );
      // The one slot serves the next client.
      await within(expectHealthy(relay, upstream), 5_000, 'the relay to serve the next request');
    } finally {
      socket.destroy();
    }
    expectNoCrashLogged(relay);
  });

  it('one GPU host is one pool member: other spellings of the static upstream or of a registered node get 409', async () => {
    const gpu = await busyGpu(500);
    upstream = gpu.server;
    const other = await startUpstream();
    try {
      const relay = await startRelay({
        TOKENPLACE_RELAY_UPSTREAM_URL: `http://localhost:${upstream.port}`,
        TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '2',
        TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN,
        TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '127.0.0.0/8',
      });
      const register = (url: string) =>
        send(relay.port, {
          method: 'POST',
          path: '/relay/servers',
          headers: { 'content-type': 'application/json', 'x-relay-server-token': TOKEN },
          body: JSON.stringify({ url, maxConcurrency: 2 }),
        });

      for (const url of [`http://127.0.0.1:${upstream.port}`, `http://[::ffff:127.0.0.1]:${upstream.port}/`]) {
        expectJsonError(await register(url), 409, 'static_upstream');
      }
      expect((await register(`http://127.0.0.1:${other.port}`)).status).toBe(201);
      expect((await register(`http://127.0.0.1:${other.port}`)).status).toBe(200);
      expectJsonError(await register(`http://[::ffff:7f00:1]:${other.port}`), 409, 'duplicate_upstream');
      // A different base path on the same host and port is a different member.
      expect((await register(`http://127.0.0.1:${other.port}/v2`)).status).toBe(201);

      // Six concurrent requests: the static GPU host never runs more than its 2.
      await Promise.all(Array.from({ length: 6 }, (_, i) => send(relay.port, { path: `/v1/models?${i}` }, 10_000)));
      expect(gpu.peak).toBeLessThanOrEqual(2);
      expectNoCrashLogged(relay);
    } finally {
      await other.close();
    }
  });

  it('clients that trickle a small body hold no slot: the GPU host never sees them and others are served at once', async () => {
    upstream = await startUpstream();
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '2',
      TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '2000',
    });
    const tricklers = Array.from({ length: 4 }, () => {
      const socket = connect(relay.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(
        'POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n{',
      );
      return socket;
    });
    const timer = setInterval(() => {
      for (const socket of tricklers) socket.write(' ');
    }, 100);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = Date.now();
      const res = await send(relay.port, { method: 'POST', path: '/v1/chat/completions', body: '{"prompt":"hi"}' }, 5_000);
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1_000);
      // Only the complete request reached the GPU host.
      expect(upstream.requests.map((request) => request.body.toString())).toEqual(['{"prompt":"hi"}']);
    } finally {
      clearInterval(timer);
      for (const socket of tricklers) socket.destroy();
    }
    expectNoCrashLogged(relay);
  });

  it('an admitted upload (over 64 KiB) that goes silent gets 408 at the body idle timeout, and its slot is freed', async () => {
    upstream = await startUpstream();
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
      TOKENPLACE_RELAY_CLIENT_BODY_IDLE_TIMEOUT_MS: '1000',
    });
    const socket = connect(relay.port, '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      received += chunk;
    });
    socket.write('POST /v1/upload HTTP/1.1\r\nHost: relay\r\nContent-Length: 200000\r\n\r\n');
    socket.write(Buffer.alloc(100_000, 'x'));
    try {
      await eventually(async () => (received.includes('\r\n\r\n') ? true : undefined), 5_000, 'the 408');
      expect(
        received,
        JSON.stringify([
          upstream.requests.length,
          received.slice(0, 200),
          relay.logs().filter((l) => l.msg !== 'relay listening'),
        ]),
      ).toMatch(/^HTTP\/1\.1 408 /);
      expect(received).toContain('"body_timeout"');
      expect(upstream.requests.length).toBe(1);
      await upstream.requests[0].settled;
      // The one slot is free again.
      await within(expectHealthy(relay, upstream), 5_000, 'the next request to be served');
    } finally {
      socket.destroy();
    }
    expectNoCrashLogged(relay);
  });
});
