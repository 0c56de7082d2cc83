/**
 * Fault suite, client side: slow, oversized and malformed requests. The relay answers each with
 * a clear status and JSON body (or closes the connection), the GPU host never sees them, and
 * the relay keeps serving everyone else.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, within } from '../helpers/async.ts';
import { parseRawResponse, type RawResponse, send, sendRaw } from '../helpers/http-client.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

const HEADERS_TIMEOUT_MS = 2000;
const MAX_BODY = 1024;

let upstream: TestUpstream;
let relay: RelayProcess;

beforeAll(async () => {
  upstream = await startUpstream();
  relay = await startRelay({
    TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
    TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    TOKENPLACE_RELAY_CLIENT_REQUEST_TIMEOUT_MS: '4000',
    TOKENPLACE_RELAY_MAX_BODY_BYTES: String(MAX_BODY),
  });
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

/** Writes bytes with a pause between pieces, reading the response as it comes; resolves when the relay closes. */
function trickle(
  port: number,
  pieces: string[],
  gapMs: number,
): Promise<{ response: RawResponse | undefined; piecesSent: number }> {
  const done = deferred<{ response: RawResponse | undefined; piecesSent: number }>();
  const socket = connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    if (socket.destroyed || sent >= pieces.length) return;
    socket.write(pieces[sent++]);
    timer = setTimeout(next, gapMs);
  };
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  socket.once('connect', next);
  socket.once('error', () => undefined);
  socket.once('close', () => {
    clearTimeout(timer);
    done.resolve({ response: parseRawResponse(received, true), piecesSent: sent });
  });
  return done.promise;
}

describe('client faults', () => {
  it('a client that sends its headers one byte per second gets 408 at the headers timeout; others are served meanwhile', async () => {
    const before = upstream.requests.length;
    const head = 'GET /v1/models HTTP/1.1\r\nHost: relay\r\nUser-Agent: slowloris\r\n\r\n';
    const slow = trickle(relay.port, [...head], 1000);
    // While the slow client holds its connection, a normal client is served at once.
    const normal = await send(relay.port, { path: '/v1/normal' });
    expect(normal.status).toBe(200);

    const { response, piecesSent } = await within(slow, HEADERS_TIMEOUT_MS + 5_000, 'the relay to give up on the slow client');
    expect(response).toBeDefined();
    expectJsonError(response as RawResponse, 408, 'request_timeout');
    // It was cut off long before it could finish its headers.
    expect(piecesSent).toBeLessThan(head.length);
    expect(upstream.requests.length).toBe(before + 1);
    expect(upstream.requests.at(-1)?.url).toBe('/v1/normal');
    await expectHealthy(relay, upstream);
  });

  it('a body larger than the limit gets 413 before the upstream sees anything', async () => {
    const before = upstream.requests.length;
    const res = await send(relay.port, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(MAX_BODY * 4),
    });
    expectJsonError(res, 413, 'payload_too_large');
    expect(upstream.requests.length).toBe(before);
    await expectHealthy(relay, upstream);
  });

  it('a chunked body that grows past the limit gets 413 and the upstream never receives all of it', async () => {
    upstream.handle((req) => req.resume());
    const res = await send(relay.port, {
      method: 'POST',
      path: '/v1/upload',
      chunks: Array.from({ length: 8 }, () => 'y'.repeat(MAX_BODY / 2)),
    });
    expectJsonError(res, 413, 'payload_too_large');
    const seen = upstream.requests.filter((request) => request.url === '/v1/upload');
    for (const request of seen) {
      await within(request.settled, 5_000, 'the partial upload to be torn down');
      expect(request.body.length).toBeLessThanOrEqual(MAX_BODY);
    }
    await expectHealthy(relay, upstream);
  });

  it('10,000 headers get 431 and the upstream sees nothing', async () => {
    const before = upstream.requests.length;
    const lines = Array.from({ length: 10_000 }, (_, i) => `X-Header-${i}: value-${i}\r\n`);
    const { response } = await within(
      trickle(relay.port, ['GET /v1/models HTTP/1.1\r\nHost: relay\r\n', ...chunk(lines, 200), '\r\n'], 1),
      10_000,
      'the relay to answer the header flood',
    );
    expect(response).toBeDefined();
    expectJsonError(response as RawResponse, 431, 'headers_too_large');
    expect(upstream.requests.length).toBe(before);
    await expectHealthy(relay, upstream);
  });

  it.each([
    ['a control byte in a header value', 'GET / HTTP/1.1\r\nHost: relay\r\nX-Bad: a\u0001b\r\n\r\n'],
    ['a space in a header name', 'GET / HTTP/1.1\r\nHost: relay\r\nBad Header: x\r\n\r\n'],
    ['a NUL in the request target', 'GET /v1\u0000/models HTTP/1.1\r\nHost: relay\r\n\r\n'],
    ['a bare LF line ending in a header', 'GET / HTTP/1.1\r\nHost: relay\nX-A: b\r\n\r\n'],
  ])('invalid header bytes (%s) get 400 and the upstream sees nothing', async (_, bytes) => {
    const before = upstream.requests.length;
    expectJsonError(await sendRaw(relay.port, bytes), 400, 'bad_request');
    expect(upstream.requests.length).toBe(before);
    await expectHealthy(relay, upstream);
  });

  it.each([
    ['Content-Length with Transfer-Encoding: chunked', 'Content-Length: 44\r\nTransfer-Encoding: chunked'],
    ['an obfuscated Transfer-Encoding', 'Content-Length: 44\r\nTransfer-Encoding: xchunked'],
    ['two Content-Lengths', 'Content-Length: 5\r\nContent-Length: 44'],
  ])('a smuggling attempt (%s) gets 400; neither request reaches the upstream', async (_, framing) => {
    const before = upstream.requests.length;
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: relay\r\n\r\n';
    const bytes = `POST /v1/chat HTTP/1.1\r\nHost: relay\r\n${framing}\r\n\r\n0\r\n\r\n${smuggled}`;
    const res = await sendRaw(relay.port, bytes);
    expectJsonError(res, 400, 'bad_request');
    expect(res.headers).toContainEqual(['connection', 'close']);
    // Only one response: the smuggled request was never parsed as a second one.
    expect(res.raw.toString('latin1').match(/HTTP\/1\.1 /g)).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(upstream.requests.length).toBe(before);
    expect(upstream.requests.some((request) => request.url === '/smuggled')).toBe(false);
    await expectHealthy(relay, upstream);
    expectNoCrashLogged(relay);
  });
});

function chunk(lines: string[], size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += size) out.push(lines.slice(i, i + size).join(''));
  return out;
}
