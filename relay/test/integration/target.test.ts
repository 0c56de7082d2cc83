import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, send, sendRaw } from '../helpers/http-client.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

/**
 * Every request must land on the configured upstream, whatever target or Host it names.
 * "evil.example" is never resolvable here; the proof is the upstream having received the request.
 */
let upstream: TestUpstream;
let relay: RelayProcess;
/** A relay whose upstream URL has a base path, to show ".." cannot climb out of it. */
let basedRelay: RelayProcess;

beforeAll(async () => {
  upstream = await startUpstream();
  upstream.handle(echo);
  [relay, basedRelay] = await Promise.all([
    startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url }),
    startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `${upstream.url}/gpu/api` }),
  ]);
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

/** Sends a raw request line so neither the client library nor URL parsing rewrites the target. */
async function rawGet(port: number, target: string, host = `127.0.0.1:${port}`) {
  const before = upstream.requests.length;
  const res = await sendRaw(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return { res, received: upstream.requests.slice(before) };
}

describe('the request target never leaves the configured upstream', () => {
  it('serves an absolute-form target from the upstream, keeping only its path', async () => {
    const { res, received } = await rawGet(relay.port, 'http://evil.example/steal?x=1', 'evil.example');
    expect(res.status).toBe(200);
    expect(received).toHaveLength(1);
    expect(received[0].url).toBe('/steal?x=1');
    expect(received[0].headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(JSON.parse(res.body.toString()).url).toBe('/steal?x=1');
  });

  it('treats an https absolute-form target with a port the same way', async () => {
    const { res, received } = await rawGet(relay.port, 'https://evil.example:8443/steal', 'evil.example:8443');
    expect(res.status).toBe(200);
    expect(received.map((r) => r.url)).toEqual(['/steal']);
  });

  it('keeps a //host path as a path on the upstream', async () => {
    const { res, received } = await rawGet(relay.port, '//evil.example/x');
    expect(res.status).toBe(200);
    expect(received.map((r) => r.url)).toEqual(['//evil.example/x']);
    expect(received[0].headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });

  it('resolves .. segments, plain and percent-encoded, before forwarding', async () => {
    const plain = await rawGet(relay.port, '/v1/../../../etc/passwd');
    expect(plain.res.status).toBe(200);
    expect(plain.received.map((r) => r.url)).toEqual(['/etc/passwd']);

    const encoded = await rawGet(relay.port, '/v1/%2e%2e/%2E%2E/admin');
    expect(encoded.res.status).toBe(200);
    expect(encoded.received.map((r) => r.url)).toEqual(['/admin']);
  });

  it('cannot climb out of the upstream base path with ..', async () => {
    const { res, received } = await rawGet(basedRelay.port, '/../../secret');
    expect(res.status).toBe(200);
    expect(received.map((r) => r.url)).toEqual(['/gpu/api/secret']);

    const normal = await rawGet(basedRelay.port, '/v1/models?limit=2');
    expect(normal.received.map((r) => r.url)).toEqual(['/gpu/api/v1/models?limit=2']);
  });

  it('ignores a foreign Host header for routing and reports it only as x-forwarded-host', async () => {
    const before = upstream.requests.length;
    const res = await send(relay.port, { path: '/v1/models', headers: { host: 'evil.example:9999' } });
    expect(res.status).toBe(200);
    const received = upstream.requests.slice(before);
    expect(received).toHaveLength(1);
    expect(received[0].headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(received[0].headers['x-forwarded-host']).toBe('evil.example:9999');
  });

  it('answers 400 with a JSON error for a target that is neither a path nor an http(s) URL', async () => {
    for (const target of ['evil.example/x', 'ftp://evil.example/x', '*']) {
      const { res, received } = await rawGet(relay.port, target);
      expect(res.status, target).toBe(400);
      // Node's parser already refuses some of these (bad_request); the relay refuses the rest (bad_request_target).
      expect(JSON.parse(res.body.toString()).error.code, target).toMatch(/^bad_request(_target)?$/);
      expect(received, target).toEqual([]);
    }
  });

  it('answers 400 for a malformed Host header and forwards nothing', async () => {
    const { res, received } = await rawGet(relay.port, '/v1/models', 'evil.example/../x');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error).toMatchObject({ code: 'bad_host' });
    expect(received).toEqual([]);
  });

  it('does not tunnel CONNECT anywhere and stays healthy', async () => {
    const before = upstream.requests.length;
    const outcome = await sendRaw(relay.port, 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n').then(
      (res) => res.status,
      (err: Error) => err.message,
    );
    expect(outcome === 'connection closed mid-response: ""' || (typeof outcome === 'number' && outcome >= 400)).toBe(true);
    expect(upstream.requests.length).toBe(before);
    expect((await getJson(relay.port, '/livez')).status).toBe(200);
  });
});
