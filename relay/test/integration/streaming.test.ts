import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, within } from '../helpers/async.ts';
import { openStream } from '../helpers/http-client.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

let upstream: TestUpstream;
let relay: RelayProcess;

beforeAll(async () => {
  upstream = await startUpstream();
  relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url });
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

describe('streaming through the real relay process', () => {
  it('delivers each SSE event to the client while the upstream is still generating', async () => {
    const firstSeen = deferred();
    const upstreamFinished = deferred();
    let upstreamDone = false;
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: {"token":"Hel"}\n\n');
      // The upstream only goes on once the client has the first event, so a buffering relay deadlocks here.
      void firstSeen.promise.then(() => {
        res.write('data: {"token":"lo"}\n\n');
        res.end('data: [DONE]\n\n', () => {
          upstreamDone = true;
          upstreamFinished.resolve();
        });
      });
    });

    const stream = await openStream(relay.port, { path: '/v1/chat/completions', method: 'POST', body: '{"stream":true}' });
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers['content-type']).toBe('text/event-stream');
    expect(stream.res.headers['content-length']).toBeUndefined();

    await stream.waitFor('data: {"token":"Hel"}\n\n', 3_000);
    expect(upstreamDone).toBe(false);
    expect(stream.received()).toBe('data: {"token":"Hel"}\n\n');
    firstSeen.resolve();

    expect(await within(stream.ended, 3_000, 'the rest of the stream')).toBe(
      'data: {"token":"Hel"}\n\ndata: {"token":"lo"}\n\ndata: [DONE]\n\n',
    );
    await upstreamFinished.promise;
  });

  it('holds the upstream back while the client does not read (backpressure), then delivers every byte', async () => {
    const CHUNK = Buffer.alloc(64 * 1024, 'x');
    const TOTAL = 48 * 1024 * 1024;
    let written = 0;
    // Resolves with the bytes the upstream had written once its writes have been blocked for a while.
    const blocked = deferred<number>();
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': TOTAL });
      const pump = () => {
        while (written < TOTAL) {
          written += CHUNK.length;
          if (!res.write(CHUNK)) {
            const stalled = setTimeout(() => blocked.resolve(written), 300);
            res.once('drain', () => {
              clearTimeout(stalled);
              pump();
            });
            return;
          }
        }
        res.end();
        blocked.resolve(written);
      };
      pump();
    });

    const opened = deferred<import('node:http').IncomingMessage>();
    const req = httpRequest({ host: '127.0.0.1', port: relay.port, path: '/v1/blob', agent: false });
    req.once('error', opened.reject);
    req.once('response', (res) => opened.resolve(res));
    req.end();
    const res = await within(opened.promise, 3_000, 'response headers');
    // Not reading: nothing consumes the body until the upstream has stalled.
    const writtenWhileBlocked = await within(blocked.promise, 5_000, 'the upstream to be blocked or done');
    // The kernel and stream buffers on both hops hold a few MB at most; a relay without backpressure takes it all.
    expect(writtenWhileBlocked).toBeLessThan(TOTAL / 2);

    let received = 0;
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    await within(new Promise((resolve) => res.once('end', resolve)), 5_000, 'the whole body once the client reads');
    expect(received).toBe(TOTAL);
  });

  it('streams a request body over 64 KiB to the upstream before the client has finished sending it', async () => {
    const firstPart = deferred();
    upstream.handle((req, res, recorded) => {
      req.on('data', () => {
        if (recorded.body.toString().includes('part-one')) firstPart.resolve();
      });
      void recorded.settled.then(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`got ${recorded.body.toString()}`);
      });
    });

    const response = deferred<string>();
    const req = httpRequest({ host: '127.0.0.1', port: relay.port, method: 'POST', path: '/upload', agent: false });
    req.once('error', response.reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      res.once('end', () => response.resolve(text));
    });
    // Bodies up to 64 KiB are read whole before admission; a larger one is streamed.
    const padding = 'x'.repeat(70 * 1024);
    req.write(`${padding}part-one;`);
    // Only once the upstream holds the first part does the client send the rest.
    await within(firstPart.promise, 3_000, 'the upstream to receive the first part of the upload');
    req.end('part-two');

    expect(await within(response.promise, 3_000, 'the upload response')).toBe(`got ${padding}part-one;part-two`);
  });

  it('keeps draining a stream the client left (its slot stays taken), and closes it at the idle timeout', async () => {
    const short = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS: '800',
    });
    const upstreamClosed = deferred();
    upstream.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      // Never ends by itself: only the relay's idle timeout closes it.
      res.once('close', () => upstreamClosed.resolve());
    });

    const stream = await openStream(short.port, { path: '/v1/chat/completions' });
    await stream.waitFor('data: first', 3_000);
    const left = Date.now();
    stream.req.destroy();

    await within(upstreamClosed.promise, 3_000, 'the upstream to see its response closed at the idle timeout');
    expect(Date.now() - left).toBeGreaterThanOrEqual(600);
    const line = await short.waitForLog((l) => l.msg === 'request' && l.status === 499, 3_000, 'the 499 log line');
    expect(line).toMatchObject({ route: 'proxy', path: '/v1/chat/completions', upstreamStatus: 200 });
  });

  it('aborts the upstream request when the client disconnects in the middle of an upload', async () => {
    const firstPart = deferred();
    const upstreamAborted = deferred();
    upstream.handle((req) => {
      req.on('data', () => firstPart.resolve());
      req.once('close', () => {
        if (!req.complete) upstreamAborted.resolve();
      });
    });

    const req = httpRequest({ host: '127.0.0.1', port: relay.port, method: 'POST', path: '/v1/upload', agent: false });
    req.on('error', () => undefined);
    req.write(`${'x'.repeat(70 * 1024)}part-one;`);
    await within(firstPart.promise, 3_000, 'the upstream to receive the first part of the upload');
    req.destroy();

    await within(upstreamAborted.promise, 3_000, 'the upstream to see the upload torn down before its end');
  });

  it('keeps the upstream request open after the client left before response headers, until the headers timeout', async () => {
    const short = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS: '1000',
    });
    const arrived = deferred();
    const upstreamClosed = deferred();
    upstream.handle((req, res) => {
      // Neither answers nor ends: the GPU host is still thinking.
      res.once('close', () => upstreamClosed.resolve());
      req.resume();
      arrived.resolve();
    });

    const req = httpRequest({ host: '127.0.0.1', port: short.port, path: '/v1/slow', agent: false });
    req.on('error', () => undefined);
    req.end();
    await within(arrived.promise, 3_000, 'the request to reach the upstream');
    const left = Date.now();
    req.destroy();

    await within(upstreamClosed.promise, 3_000, 'the upstream to see the request closed at the headers timeout');
    expect(Date.now() - left).toBeGreaterThanOrEqual(700);
  });
});
