/**
 * Fault suite, half-closed clients: a client that sends its request and then shuts down its
 * sending side (FIN, `shutdown(SHUT_WR)`) still reads, and must get its response. A client that
 * closes its socket altogether also sends a FIN, so the relay must still tell the two apart: a
 * client that is gone leaves the queue and its slot shows as orphaned, as before.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { eventually, within } from '../helpers/async.ts';
import { parseRawResponse, type RawResponse } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { startRelay } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { stopRelaysAndUpstreamsAfterEach } from './cleanup.ts';
import { expectHealthy, expectNoCrashLogged } from './expect.ts';

let upstream: TestUpstream | undefined;

stopRelaysAndUpstreamsAfterEach();

/** An upstream that answers each request after ms, like a GPU host generating. */
async function slowUpstream(ms: number): Promise<TestUpstream> {
  const server = await startUpstream();
  server.handle((req, res, recorded) => {
    req.resume();
    void recorded.settled.then(() =>
      setTimeout(() => {
        if (res.destroyed) return;
        const body = JSON.stringify({ url: recorded.url, bodyLength: recorded.body.length });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }, ms),
    );
  });
  return server;
}

interface HalfClosedExchange {
  /** Interim 1xx responses before the final one, as status lines. */
  interim: string[];
  final: RawResponse;
}

/** Writes the request, half-closes the socket at once, and reads until the relay closes the connection. */
function requestThenHalfClose(port: number, request: string, ms = 10_000): Promise<HalfClosedExchange> {
  return within(
    new Promise<HalfClosedExchange>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('error', reject);
      socket.once('end', () => {
        let rest = Buffer.concat(chunks);
        const interim: string[] = [];
        for (;;) {
          const text = rest.toString('latin1');
          if (!/^HTTP\/1\.1 1\d\d /.test(text)) break;
          const end = text.indexOf('\r\n\r\n');
          interim.push(text.slice(0, text.indexOf('\r\n')));
          rest = rest.subarray(end + 4);
        }
        const final = parseRawResponse(rest, true);
        if (final === undefined) reject(new Error(`no final response: ${JSON.stringify(rest.toString('latin1'))}`));
        else resolve({ interim, final });
        socket.destroy();
      });
      socket.write(request, () => socket.end());
    }),
    ms,
    'the response to a half-closed client',
  );
}

const body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
const POST = `POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

describe('half-closed clients', () => {
  it('a client that half-closes after its POST gets the whole response once the GPU host answers (600 ms later)', async () => {
    upstream = await slowUpstream(600);
    const relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url });
    const { interim, final } = await requestThenHalfClose(relay.port, POST);
    expect(final.status).toBe(200);
    expect(JSON.parse(final.body.toString())).toEqual({ url: '/v1/chat/completions', bodyLength: body.length });
    // While the answer was pending the relay checked that the client was still there with interim 100s, which HTTP/1.1 clients skip.
    for (const line of interim) expect(line).toBe('HTTP/1.1 100 Continue');
    expect(upstream.requests).toHaveLength(1);
    await expectHealthy(relay, upstream);
    expectNoCrashLogged(relay);
  });

  it('a half-closed GET answered at once gets its response', async () => {
    upstream = await startUpstream();
    const relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url });
    const { interim, final } = await requestThenHalfClose(relay.port, 'GET /v1/models HTTP/1.1\r\nHost: relay\r\n\r\n');
    expect(final.status).toBe(200);
    expect(JSON.parse(final.body.toString()).url).toBe('/v1/models');
    for (const line of interim) expect(line).toBe('HTTP/1.1 100 Continue');
  });

  it("the relay's own routes answer a half-closed client too", async () => {
    const relay = await startRelay({});
    const { final } = await requestThenHalfClose(relay.port, 'GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n');
    expect(final.status).toBe(200);
  });

  it('a client that closes its socket altogether is still seen as gone: its slot shows as orphaned at once', async () => {
    upstream = await slowUpstream(3_000);
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
    });
    const socket = connect(relay.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(POST);
    await eventually(async () => (upstream?.requests.length === 1 ? true : undefined), 5_000, 'the POST at the GPU host');
    socket.destroy();
    await eventually(
      async () =>
        sampleValue(await scrape(relay.port), 'tokenplace_relay_upstream_orphaned', { member: 'static' }) === 1
          ? true
          : undefined,
      1_500,
      'the slot to show as orphaned',
    );
  });
});
