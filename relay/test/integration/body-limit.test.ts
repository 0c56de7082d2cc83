import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, send } from '../helpers/http-client.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

const LIMIT = 1024;

let upstream: TestUpstream;
let relay: RelayProcess;

beforeAll(async () => {
  upstream = await startUpstream();
  upstream.handle(echo);
  relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url, TOKENPLACE_RELAY_MAX_BODY_BYTES: String(LIMIT) });
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

function expect413(res: Awaited<ReturnType<typeof send>>): void {
  expect(res.status).toBe(413);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(JSON.parse(res.body.toString())).toEqual({
    error: { code: 'payload_too_large', message: expect.stringContaining(String(LIMIT)) },
  });
}

/** Splits a buffer into pieces sent as separate chunks. */
function pieces(body: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += size) out.push(body.subarray(offset, offset + size));
  return out;
}

describe('TOKENPLACE_RELAY_MAX_BODY_BYTES', () => {
  it('answers 413 to a declared content-length over the limit without contacting the upstream', async () => {
    const before = upstream.requests.length;
    const body = randomBytes(LIMIT + 1);
    const res = await send(relay.port, { method: 'POST', path: '/v1/chat/completions', body });
    expect413(res);
    expect(res.headers.connection).toBe('close');
    expect(upstream.requests.length).toBe(before);
  });

  it('forwards a body of exactly the limit', async () => {
    const body = randomBytes(LIMIT);
    const res = await send(relay.port, { method: 'POST', path: '/v1/chat/completions', body });
    expect(res.status).toBe(200);
    expect(upstream.requests.at(-1)?.body.equals(body)).toBe(true);
  });

  it('answers 413 to a chunked body that grows past the limit, and the upstream never gets all of it', async () => {
    const before = upstream.requests.length;
    const body = randomBytes(LIMIT * 2);
    const res = await send(relay.port, { method: 'POST', path: '/v1/chat/completions', chunks: pieces(body, 256) });
    expect413(res);
    // The rest of the upload is left unread, so the connection cannot be reused.
    expect(res.headers.connection).toBe('close');
    for (const seen of upstream.requests.slice(before)) {
      await seen.settled;
      expect(seen.body.length).toBeLessThanOrEqual(LIMIT);
    }
  });

  it('forwards a chunked body under the limit byte for byte', async () => {
    const body = randomBytes(LIMIT - 24);
    const res = await send(relay.port, { method: 'POST', path: '/v1/chat/completions', chunks: pieces(body, 100) });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1);
    expect(seen?.body.equals(body)).toBe(true);
    expect(JSON.parse(res.body.toString()).bodyLength).toBe(body.length);
  });

  it('stays healthy after refusing bodies', async () => {
    expect(await getJson(relay.port, '/livez')).toEqual({ status: 200, body: { status: 'alive' } });
  });
});
