/**
 * Fault suite, pool members that accept connections but never answer: one fails every TLS
 * handshake, one resets every connection. Both count against passive health (ejected like a
 * node that refuses connections), and a GET that hit them is retried once on a healthy member.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { send } from '../helpers/http-client.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

const TOKEN = 'broken-members-node-token-0b7d';

let healthy: TestUpstream | undefined;
let broken: Server | undefined;
const sockets = new Set<Socket>();

afterEach(async () => {
  await stopAllRelays();
  await healthy?.close();
  healthy = undefined;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise((resolve) => (broken ? broken.close(resolve) : resolve(undefined)));
  broken = undefined;
});
afterAll(stopAllRelays);

/** A TCP listener on 127.0.0.1 that does `misbehave` to every connection; resolves with its port. */
function startBroken(misbehave: (socket: Socket) => void): Promise<number> {
  const server = createTcpServer((socket) => {
    socket.on('error', () => undefined);
    sockets.add(socket);
    misbehave(socket);
  });
  broken = server;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    }),
  );
}

const cases: [string, string, (socket: Socket) => void][] = [
  // Answers the TLS ClientHello with plain text: every handshake fails.
  ['fails every TLS handshake', 'https', (socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')],
  // Reads the request, then resets the connection before any response byte.
  ['resets every connection', 'http', (socket) => socket.once('data', () => socket.resetAndDestroy())],
];

describe('pool members that accept connections but never answer', () => {
  it.each(cases)('a node that %s is ejected, and every GET is answered by the healthy member', async (_, scheme, misbehave) => {
    healthy = await startUpstream();
    const port = await startBroken(misbehave);
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: healthy.url,
      TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN,
      TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '127.0.0.1/32',
      TOKENPLACE_RELAY_UPSTREAM_EJECT_AFTER: '2',
      TOKENPLACE_RELAY_UPSTREAM_EJECT_BACKOFF_MS: '30000',
    });
    const registered = await send(relay.port, {
      method: 'POST',
      path: '/relay/servers',
      headers: { 'content-type': 'application/json', 'x-relay-server-token': TOKEN },
      body: JSON.stringify({ url: `${scheme}://127.0.0.1:${port}` }),
    });
    expect(registered.status).toBe(201);

    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await send(relay.port, { path: `/v1/models?${i}` })).status);
    expect(statuses).toEqual(Array(20).fill(200));
    const samples = await scrape(relay.port);
    expect(sampleValue(samples, 'tokenplace_relay_upstream_ejections_total', { member: 'registered' })).toBe(1);
    expect(sampleValue(samples, 'tokenplace_relay_upstream_members', { state: 'ejected' })).toBe(1);
    // Every GET reached the healthy member exactly once.
    expect(healthy.requests.filter((request) => request.url.startsWith('/v1/models')).length).toBe(20);
    await expectHealthy(relay, healthy);
    expectNoCrashLogged(relay);
  });

  it('a POST is not retried on another member: it gets 502 from the node that resets', async () => {
    const port = await startBroken((socket) => socket.once('data', () => socket.resetAndDestroy()));
    const relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${port}` });
    const res = await send(relay.port, { method: 'POST', path: '/v1/chat/completions', body: '{}' });
    expectJsonError(res, 502, 'upstream_reset');
    expectNoCrashLogged(relay);
  });

  it('a GET on a reused keep-alive socket the GPU host resets before answering is retried on a fresh connection (lone member)', async () => {
    // The first request on each connection is answered with keep-alive; a second one on the same
    // connection is reset before any byte, as when the host closes an idle socket just as it is reused.
    const port = await startBroken((socket) => {
      let requests = 0;
      socket.on('data', () => {
        requests++;
        if (requests === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=60\r\n\r\nok');
        else socket.resetAndDestroy();
      });
    });
    const relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${port}` });
    for (let i = 0; i < 6; i++) {
      const res = await send(relay.port, { path: `/v1/models?${i}` });
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('ok');
    }
    expectNoCrashLogged(relay);
  });
});
