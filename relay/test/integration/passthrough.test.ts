import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, send, sendRaw } from '../helpers/http-client.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

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

/** Compressible but not trivially so, and large enough to cross several socket reads. */
function payload(): Buffer {
  const records = Array.from({ length: 4000 }, (_, i) => ({ i, token: randomBytes(6).toString('hex') }));
  return Buffer.from(JSON.stringify(records));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('bytes pass through untouched', () => {
  it('relays a gzip body with content-length byte for byte, headers kept, never decoded', async () => {
    const plain = payload();
    const gzipped = gzipSync(plain);
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': gzipped.length,
        vary: 'accept-encoding',
        etag: '"v1"',
      });
      res.end(gzipped);
    });

    const res = await send(relay.port, { path: '/v1/models', headers: { 'accept-encoding': 'gzip' } });

    expect(upstream.requests.at(-1)?.headers['accept-encoding']).toBe('gzip');
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-length']).toBe(String(gzipped.length));
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers.vary).toBe('accept-encoding');
    expect(res.headers.etag).toBe('"v1"');
    expect(res.body.equals(gzipped)).toBe(true);
    expect(gunzipSync(res.body).equals(plain)).toBe(true);
  });

  it('relays a chunked gzip body without inventing a content-length', async () => {
    const gzipped = gzipSync(payload());
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      // Several writes with no declared length: the upstream frames it chunked.
      for (let offset = 0; offset < gzipped.length; offset += 7_000) res.write(gzipped.subarray(offset, offset + 7_000));
      res.end();
    });

    const res = await send(relay.port, { path: '/v1/models', headers: { 'accept-encoding': 'gzip' } });

    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.body.equals(gzipped)).toBe(true);
  });

  it('answers HEAD with the upstream content-length and no body', async () => {
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1234 });
      res.end();
    });
    const res = await send(relay.port, { method: 'HEAD', path: '/v1/models' });
    expect(upstream.requests.at(-1)?.method).toBe('HEAD');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('1234');
    expect(res.body.length).toBe(0);
  });

  it('forwards a request body byte for byte, with its content-encoding', async () => {
    const body = gzipSync(payload());
    upstream.handle(echo);
    const res = await send(relay.port, {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(body.length) },
      body,
    });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1);
    expect(seen?.headers['content-encoding']).toBe('gzip');
    expect(seen?.headers['content-length']).toBe(String(body.length));
    expect(seen?.body.equals(body)).toBe(true);
  });

  it('keeps every set-cookie header the upstream sends', async () => {
    upstream.handle((req, res) => {
      req.resume();
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
      res.end('ok');
    });
    const res = await send(relay.port, { path: '/login' });
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });
});

describe('hop-by-hop headers', () => {
  it('strips them from the request before it reaches the upstream', async () => {
    upstream.handle(echo);
    const res = await sendRaw(
      relay.port,
      [
        'GET /v1/models HTTP/1.1',
        `Host: 127.0.0.1:${relay.port}`,
        'Connection: keep-alive, X-Custom-Hop',
        'X-Custom-Hop: must-not-pass',
        'Keep-Alive: timeout=30',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: X-Checksum',
        'Upgrade: h2c',
        'Transfer-Encoding: chunked',
        'X-End-To-End: passes',
        '',
        '0',
        '',
        '',
      ].join('\r\n'),
    );
    expect(res.status).toBe(200);

    const seen = upstream.requests.at(-1);
    const names = (seen?.rawHeaders ?? []).filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
    for (const hop of ['x-custom-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding']) {
      expect(names, hop).not.toContain(hop);
    }
    // The relay's own connection to the upstream may say keep-alive, but never repeats what the client's named.
    expect(String(seen?.headers.connection ?? '')).not.toMatch(/x-custom-hop/i);
    expect(seen?.headers['x-end-to-end']).toBe('passes');
  });

  it('strips them from the response before it reaches the client', async () => {
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, {
        'content-type': 'text/plain',
        connection: 'keep-alive, X-Upstream-Hop',
        'x-upstream-hop': 'must-not-pass',
        'keep-alive': 'timeout=7, max=3',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        trailer: 'X-Checksum',
        upgrade: 'h2c',
        'x-end-to-end': 'passes',
      });
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end('hello');
    });

    const res = await sendRaw(relay.port, `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:${relay.port}\r\n\r\n`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
    for (const hop of ['x-upstream-hop', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
      expect(header(res, hop), hop).toEqual([]);
    }
    // Connection, Keep-Alive and Transfer-Encoding may only be the relay's own, describing its own connection.
    expect(header(res, 'connection').join(',')).not.toMatch(/x-upstream-hop/i);
    expect(header(res, 'keep-alive')).not.toContain('timeout=7, max=3');
    expect(header(res, 'transfer-encoding').length).toBeLessThanOrEqual(1);
    expect(header(res, 'x-end-to-end')).toEqual(['passes']);
  });

  it('never forwards the relay server token header to the upstream', async () => {
    upstream.handle(echo);
    await send(relay.port, { path: '/v1/models', headers: { 'x-relay-server-token': 'secret-for-the-relay' } });
    expect(upstream.requests.at(-1)?.headers['x-relay-server-token']).toBeUndefined();
  });
});

describe('forwarding headers and request ids', () => {
  it('sets x-forwarded-for, -proto and -host from what the relay saw', async () => {
    upstream.handle(echo);
    await send(relay.port, { path: '/v1/models', headers: { host: 'relay.example.test' } });
    const seen = upstream.requests.at(-1);
    expect(seen?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen?.headers['x-forwarded-proto']).toBe('http');
    expect(seen?.headers['x-forwarded-host']).toBe('relay.example.test');
  });

  it('extends the x-forwarded-for chain of the proxy in front and keeps its proto and host', async () => {
    upstream.handle(echo);
    await send(relay.port, {
      path: '/v1/models',
      headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'token.place' },
    });
    const seen = upstream.requests.at(-1);
    expect(seen?.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen?.headers['x-forwarded-proto']).toBe('https');
    expect(seen?.headers['x-forwarded-host']).toBe('token.place');
  });

  it('keeps a client x-request-id, sends it upstream and returns it', async () => {
    upstream.handle(echo);
    const res = await send(relay.port, { path: '/v1/models', headers: { 'x-request-id': 'trace-abc-123' } });
    expect(res.headers['x-request-id']).toBe('trace-abc-123');
    expect(upstream.requests.at(-1)?.headers['x-request-id']).toBe('trace-abc-123');
  });

  it('generates an x-request-id when the client sends none, the same one up and down', async () => {
    upstream.handle(echo);
    const res = await send(relay.port, { path: '/v1/models' });
    const id = res.headers['x-request-id'];
    expect(id).toMatch(UUID);
    expect(upstream.requests.at(-1)?.headers['x-request-id']).toBe(id);
  });

  it('replaces an x-request-id that is not a short visible token', async () => {
    upstream.handle(echo);
    const res = await send(relay.port, { path: '/v1/models', headers: { 'x-request-id': 'has spaces and "quotes"' } });
    const id = res.headers['x-request-id'];
    expect(id).toMatch(UUID);
    expect(upstream.requests.at(-1)?.headers['x-request-id']).toBe(id);
  });

  it('returns the request id on an error the relay generates itself too', async () => {
    upstream.handle((req) => req.socket.resetAndDestroy());
    const res = await send(relay.port, { path: '/v1/models', headers: { 'x-request-id': 'err-trace-1' } });
    expect(res.status).toBe(502);
    expect(res.headers['x-request-id']).toBe('err-trace-1');
  });
});
