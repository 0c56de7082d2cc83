/**
 * Fault suite, protocol edges: request heads the relay must refuse with a clear 4xx/5xx (not a
 * 500 and a stack trace), and upstream answers it must relay or refuse correctly.
 */
import { connect, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, sendRaw } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

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

describe('request heads', () => {
  it.each(['relay:99999', '%zz', '[::::]', 'a%00b', 'a b', 'relay:8000:1'])(
    'Host %j gets 400 bad_host, logged at debug only',
    async (host) => {
      const before = upstream.requests.length;
      const res = await sendRaw(relay.port, `GET /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      expectJsonError(res, 400, 'bad_host');
      expect(upstream.requests.length).toBe(before);
      expect(relay.logs().filter((line) => line.level === 'error')).toEqual([]);
    },
  );

  it('two Host headers get 400 (RFC 9112 section 3.2)', async () => {
    const before = upstream.requests.length;
    const res = await sendRaw(relay.port, 'GET /v1/models HTTP/1.1\r\nHost: relay\r\nHost: evil.example\r\n\r\n');
    expectJsonError(res, 400, 'bad_host');
    expect(upstream.requests.length).toBe(before);
  });

  it.each(['gzip, chunked', 'deflate, chunked', 'identity, chunked'])(
    'Transfer-Encoding %j gets 501: only chunked is understood',
    async (coding) => {
      const before = upstream.requests.length;
      const res = await sendRaw(
        relay.port,
        `POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: ${coding}\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
      );
      expectJsonError(res, 501, 'unsupported_transfer_coding');
      expect(upstream.requests.length).toBe(before);
    },
  );

  it('a plain chunked body still goes through', async () => {
    const res = await sendRaw(
      relay.port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n',
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString()).bodyLength).toBe(2);
    await expectHealthy(relay, upstream);
    expectNoCrashLogged(relay);
  });
});

describe('upstream status codes', () => {
  it('a status outside 100-599 gets 502; an unregistered code is relayed but counted under its class', async () => {
    let status = 999;
    const raw = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end(`HTTP/1.1 ${status} Odd\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok`));
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const address = raw.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const odd = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${port}` });
      expectJsonError(await send(odd.port, { path: '/v1/odd' }), 502, 'upstream_bad_response');
      for (status = 231; status < 241; status++) expect((await send(odd.port, { path: '/v1/odd' })).status).toBe(status);
      const samples = await scrape(odd.port);
      const statuses = new Set(
        samples.filter((sample) => sample.name === 'tokenplace_relay_requests_total').map((sample) => sample.labels.status),
      );
      expect([...statuses].filter((label) => /^23\d$|^999$/.test(label))).toEqual([]);
      expect(sampleValue(samples, 'tokenplace_relay_requests_total', { route: 'proxy', status: '2xx' })).toBe(10);
      expectNoCrashLogged(odd);
    } finally {
      raw.close();
    }
  });

  it('an interim 103 Early Hints before the final response is skipped, and the final response relayed', async () => {
    const raw = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () =>
        socket.end(
          'HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nfinal',
        ),
      );
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const address = raw.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const hinted = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${port}` });
      const res = await send(hinted.port, { path: '/v1/hinted' });
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('final');
    } finally {
      raw.close();
    }
  });

  it('an unsolicited 100 Continue before the final response gets a prompt 502 (not fixed: undici refuses it), and the relay stays healthy', async () => {
    let answered = 0;
    const raw = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        answered++;
        socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nfinal');
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const address = raw.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const continuing = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${port}` });
      // A POST is never replayed: exactly one exchange, one 502, no hang. See docs/reliability.md, "What is not covered".
      const res = await send(continuing.port, { method: 'POST', path: '/v1/chat/completions', body: '{}' });
      expectJsonError(res, 502, 'upstream_reset');
      expect(answered).toBe(1);
      expectNoCrashLogged(continuing);
    } finally {
      raw.close();
    }
  });
});

describe('forwarding claims from clients', () => {
  const CLAIMS = {
    forwarded: 'for=203.0.113.9;proto=https',
    'x-real-ip': '203.0.113.9',
    'x-forwarded-port': '8443',
    'x-forwarded-prefix': '/admin',
  };

  it.each([
    ['false', false],
    ['true', true],
  ])(
    'with TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS=%s, Forwarded, X-Real-IP and X-Forwarded-Port pass only when trusted',
    async (setting, passes) => {
      const trusting = await startRelay({
        TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
        TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS: setting,
      });
      const res = await send(trusting.port, { path: '/v1/claims', headers: CLAIMS });
      expect(res.status).toBe(200);
      const seen = upstream.requests.at(-1)?.headers ?? {};
      for (const [name, value] of Object.entries(CLAIMS)) expect(seen[name], name).toBe(passes ? value : undefined);
    },
  );

  it('with TOKENPLACE_RELAY_TRUSTED_PROXIES, forwarded headers are believed from a listed peer only', async () => {
    const listing = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS: 'true',
      TOKENPLACE_RELAY_TRUSTED_PROXIES: '127.0.0.1/32, ::1',
    });
    const claims = {
      ...CLAIMS,
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'chat.example.org',
    };
    // The proxy in front: 127.0.0.1, listed.
    const fromProxy = await send(listing.port, { path: '/v1/claims', headers: claims });
    expect(fromProxy.status).toBe(200);
    const believed = upstream.requests.at(-1)?.headers ?? {};
    for (const [name, value] of Object.entries(CLAIMS)) expect(believed[name], name).toBe(value);
    expect(believed['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');
    expect(believed['x-forwarded-proto']).toBe('https');
    expect(believed['x-forwarded-host']).toBe('chat.example.org');

    // Anyone else (127.0.0.2 is loopback too, but not listed): the claims are dropped or replaced with what the relay saw.
    const fromElsewhere = await send(listing.port, { path: '/v1/claims', headers: claims, localAddress: '127.0.0.2' });
    expect(fromElsewhere.status).toBe(200);
    const replaced = upstream.requests.at(-1)?.headers ?? {};
    for (const name of Object.keys(CLAIMS)) expect(replaced[name], name).toBeUndefined();
    expect(replaced['x-forwarded-for']).toBe('127.0.0.2');
    expect(replaced['x-forwarded-proto']).toBe('http');
    expect(replaced['x-forwarded-host']).toBe(`127.0.0.1:${listing.port}`);
  });

  it('TOKENPLACE_RELAY_TRUSTED_PROXIES=none trusts no peer, even with TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS=true', async () => {
    const trustingNone = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS: 'true',
      TOKENPLACE_RELAY_TRUSTED_PROXIES: 'none',
    });
    const res = await send(trustingNone.port, {
      path: '/v1/claims',
      headers: { ...CLAIMS, 'x-forwarded-for': '198.51.100.7' },
    });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)?.headers ?? {};
    for (const name of Object.keys(CLAIMS)) expect(seen[name], name).toBeUndefined();
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
  });
});

describe('pipelining', () => {
  it('a request pipelined behind a POST reaches the GPU host only after the POST has finished', async () => {
    const events: string[] = [];
    upstream.handle((req, res, recorded) => {
      events.push(`arrived ${req.method} ${req.url}`);
      req.resume();
      void recorded.settled.then(() =>
        setTimeout(
          () => {
            events.push(`answered ${req.method} ${req.url}`);
            res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
            res.end('ok');
          },
          req.method === 'POST' ? 400 : 0,
        ),
      );
    });
    const socket = connect(relay.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      received += chunk;
    });
    socket.write(
      'POST /v1/generate HTTP/1.1\r\nHost: relay\r\nContent-Length: 2\r\n\r\n{}' +
        'GET /v1/after HTTP/1.1\r\nHost: relay\r\n\r\n' +
        'GET /v1/last HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n',
    );
    await new Promise((resolve) => socket.once('close', resolve));
    expect(received.match(/HTTP\/1\.1 200 /g)).toHaveLength(3);
    // Safe requests behind safe ones may overlap; none reaches the GPU host before the POST is done.
    const answeredPost = events.indexOf('answered POST /v1/generate');
    expect(events[0]).toBe('arrived POST /v1/generate');
    expect(events.indexOf('arrived GET /v1/after')).toBeGreaterThan(answeredPost);
    expect(events.indexOf('arrived GET /v1/last')).toBeGreaterThan(answeredPost);
    expect(events).toHaveLength(6);
    upstream.handle(echo);
  });
});
