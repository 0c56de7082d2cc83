import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, eventually, within } from '../helpers/async.ts';
import { type ClientResponse, getJson, openStream, send } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { closedPort, echo, startUnreachableUpstream, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

const HEADERS_TIMEOUT_MS = 400;
const IDLE_TIMEOUT_MS = 400;

let upstream: TestUpstream;
/** Its upstream URL points at a port nothing listens on. */
let refusedRelay: RelayProcess;
/** Short upstream timeouts, so the 504 and idle paths run in well under a second. */
let relay: RelayProcess;

beforeAll(async () => {
  upstream = await startUpstream();
  const deadPort = await closedPort();
  [refusedRelay, relay] = await Promise.all([
    startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${deadPort}` }),
    startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
    }),
  ]);
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

function expectJsonError(res: ClientResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(res.body.toString('utf8'));
  expect(body).toEqual({ error: { code, message: expect.any(String) } });
  expect(body.error.message.length).toBeGreaterThan(0);
}

async function upstreamErrors(target: RelayProcess, kind: string): Promise<number> {
  return sampleValue(await scrape(target.port), 'tokenplace_relay_upstream_errors_total', { kind }) ?? Number.NaN;
}

async function expectHealthy(target: RelayProcess): Promise<void> {
  expect(await getJson(target.port, '/livez')).toEqual({ status: 200, body: { status: 'alive' } });
  expect((await getJson(target.port, '/healthz')).status).toBe(200);
}

describe('upstream failures become clear JSON errors and never take the relay down', () => {
  it('answers 502 upstream_unavailable when the upstream refuses connections', async () => {
    const before = await upstreamErrors(refusedRelay, 'connect');
    const res = await send(refusedRelay.port, { path: '/v1/models', headers: { 'x-request-id': 'refused-1' } });
    expectJsonError(res, 502, 'upstream_unavailable');
    expect(res.headers['x-request-id']).toBe('refused-1');
    expect(await upstreamErrors(refusedRelay, 'connect')).toBe(before + 1);
    await expectHealthy(refusedRelay);
  });

  it('answers 502 upstream_reset when the upstream resets the connection before headers', async () => {
    upstream.handle((req) => req.socket.resetAndDestroy());
    const before = await upstreamErrors(relay, 'reset');
    const res = await send(relay.port, { path: '/v1/models' });
    expectJsonError(res, 502, 'upstream_reset');
    expect(await upstreamErrors(relay, 'reset')).toBe(before + 1);
    await expectHealthy(relay);
  });

  it('answers 502 when the upstream closes the connection without answering', async () => {
    upstream.handle((req) => req.socket.end());
    const res = await send(relay.port, { method: 'POST', path: '/v1/chat/completions', body: '{}' });
    expectJsonError(res, 502, 'upstream_reset');
    await expectHealthy(relay);
  });

  it('answers 502 upstream_bad_response when the upstream speaks something other than HTTP', async () => {
    upstream.handle((req) => {
      req.socket.end('SSH-2.0-OpenSSH_9.2\r\n\r\n');
    });
    const before = await upstreamErrors(relay, 'protocol');
    const res = await send(relay.port, { path: '/v1/models' });
    expectJsonError(res, 502, 'upstream_bad_response');
    expect(await upstreamErrors(relay, 'protocol')).toBe(before + 1);
    await expectHealthy(relay);
  });

  it('answers 504 upstream_timeout when the connection to the upstream cannot be opened in time', async () => {
    const unreachable = await startUnreachableUpstream();
    try {
      const connectRelay = await startRelay({
        TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${unreachable.port}`,
        TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS: '300',
      });
      const res = await send(connectRelay.port, { path: '/v1/models', headers: { 'x-request-id': 'connect-timeout-1' } });
      expectJsonError(res, 504, 'upstream_timeout');
      const line = await connectRelay.waitForLog((l) => l.requestId === 'connect-timeout-1', 3_000, 'the log line');
      expect(line.error).toMatch(/CONNECT_TIMEOUT/);
      expect(await upstreamErrors(connectRelay, 'timeout')).toBe(1);
      await expectHealthy(connectRelay);
      await connectRelay.stop();
    } finally {
      unreachable.close();
    }
  });

  it('answers 504 upstream_timeout when the upstream sends no headers in time, and drops the upstream request', async () => {
    const upstreamClosed = deferred();
    upstream.handle((req, res) => {
      req.resume();
      res.once('close', () => upstreamClosed.resolve());
    });
    const before = await upstreamErrors(relay, 'timeout');
    const started = performance.now();
    const res = await send(relay.port, { path: '/v1/chat/completions' });
    const elapsed = performance.now() - started;

    expectJsonError(res, 504, 'upstream_timeout');
    // The configured timeout, not some other limit, produced it.
    expect(elapsed).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS * 0.9);
    expect(elapsed).toBeLessThan(HEADERS_TIMEOUT_MS + 2_000);
    await within(upstreamClosed.promise, 3_000, 'the upstream request to be closed after the timeout');
    expect(await upstreamErrors(relay, 'timeout')).toBe(before + 1);
    await expectHealthy(relay);
  });

  it('cuts a stream that stalls longer than the idle timeout between chunks', async () => {
    const upstreamClosed = deferred();
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      // Then silence: a GPU host that hung mid-generation.
      res.once('close', () => upstreamClosed.resolve());
    });
    const before = await upstreamErrors(relay, 'timeout');

    const stream = await openStream(relay.port, { path: '/v1/chat/completions', headers: { 'x-request-id': 'stalled-1' } });
    expect(stream.res.statusCode).toBe(200);
    await stream.waitFor('data: first\n\n', 3_000);
    const cut = await within(
      stream.ended.then(
        () => 'ended normally',
        () => 'cut off',
      ),
      IDLE_TIMEOUT_MS + 3_000,
      'the stalled stream to be cut',
    );
    // A clean end would tell the client the answer was complete; it was not.
    expect(cut).toBe('cut off');
    expect(stream.received()).toBe('data: first\n\n');
    await within(upstreamClosed.promise, 3_000, 'the upstream response to be closed');

    const line = await relay.waitForLog((l) => l.requestId === 'stalled-1', 3_000, 'the log line of the stalled request');
    expect(line).toMatchObject({ status: 200, error: expect.stringMatching(/^timeout:/) });
    expect(
      await eventually(
        async () => ((await upstreamErrors(relay, 'timeout')) === before + 1 ? true : undefined),
        3_000,
        'the timeout to be counted',
      ),
    ).toBe(true);
    await expectHealthy(relay);
  });

  it('does not turn an upstream body cut short into a complete-looking response', async () => {
    upstream.handle((req) => {
      req.socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"partial":');
    });
    const outcome = await send(relay.port, { path: '/v1/models' }).then(
      (res) => `complete ${res.status} ${res.body.toString()}`,
      (err: Error) => err.message,
    );
    expect(outcome).toBe('response aborted');
    await expectHealthy(relay);
  });

  it('keeps forwarding normally after all of the above', async () => {
    upstream.handle(echo);
    const res = await send(relay.port, { path: '/v1/models' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString()).url).toBe('/v1/models');
  });
});
