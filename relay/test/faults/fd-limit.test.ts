/**
 * Fault suite, file descriptors: the relay runs under a lowered open-file limit (prlimit on the
 * child) and more clients connect than that limit allows. It refuses the excess (or answers 503),
 * never fails with EMFILE, never exits, and serves again once the load drops.
 */
import { execFileSync } from 'node:child_process';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, within } from '../helpers/async.ts';
import { sampleValue, scrape } from '../helpers/metrics.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { expectHealthy, expectNoCrashLogged } from './expect.ts';

const LIMIT = 256;
const CLIENTS = 300;

function hasPrlimit(): boolean {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let upstream: TestUpstream | undefined;

afterEach(async () => {
  await stopAllRelays();
  await upstream?.close();
  upstream = undefined;
});

/** An upstream that holds every request until release() is called. */
async function holdingUpstream() {
  const server = await startUpstream();
  const held: ServerResponse[] = [];
  let released = false;
  server.handle((req, res) => {
    req.resume();
    if (released) res.end('ok');
    else held.push(res);
  });
  return {
    server,
    held,
    release() {
      released = true;
      for (const res of held.splice(0)) res.end('ok');
    },
  };
}

type Outcome = { status: number; body: string } | { error: string };

/** One request on its own connection; resolves with the response or the connection error, never rejects. */
function attempt(port: number, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    });
    req.once('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

/** A refused connection: the relay closed it before answering. */
const REFUSED = /^(ECONNRESET|EPIPE|ECONNREFUSED|socket hang up)$/;

async function startLimitedRelay(env: Record<string, string>, limit = LIMIT): Promise<RelayProcess> {
  return startRelay(
    { TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '0', ...env },
    { prefix: ['prlimit', `--nofile=${limit}:${limit}`, '--'] },
  );
}

describe.skipIf(!hasPrlimit())(`open-file limit lowered to ${LIMIT}`, () => {
  it('derives the connection cap from the limit and refuses connections above it; the rest are served', {
    timeout: 90_000,
  }, async () => {
    const holding = await holdingUpstream();
    upstream = holding.server;
    const relay = await startLimitedRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url });
    const listening = relay.logs().find((line) => line.msg === 'relay listening');
    // (256 - 64) / 2: each connection may hold a client and an upstream socket, 64 kept for the runtime.
    expect(listening?.connectionCap).toMatchObject({ maxConnections: 96, source: 'open-file limit', openFileLimit: LIMIT });

    const outcomes = Array.from({ length: CLIENTS }, () => attempt(relay.port, '/v1/hold'));
    // Exactly the cap's worth of requests reaches the upstream; everyone else is refused at once.
    await eventually(async () => (holding.held.length === 96 ? true : undefined), 20_000, '96 requests at the upstream');
    expect(relay.child.exitCode).toBeNull();

    holding.release();
    const results = await within(Promise.all(outcomes), 30_000, 'every client to be answered or refused');
    const served = results.filter((o) => 'status' in o && o.status === 200);
    const refused = results.filter((o) => 'error' in o && REFUSED.test(o.error));
    expect(served).toHaveLength(96);
    expect(refused).toHaveLength(CLIENTS - 96);
    expect(upstream.requests).toHaveLength(96);

    // Load gone: the relay serves again, counted the refusals, and never ran out of descriptors.
    await expectHealthy(relay, upstream);
    const samples = await scrape(relay.port);
    expect(sampleValue(samples, 'tokenplace_relay_connections_refused_total')).toBe(CLIENTS - 96);
    expect(sampleValue(samples, 'process_max_fds')).toBe(LIMIT);
    expectNoCrashLogged(relay);
    expect(relay.logs().some((line) => line.msg === 'connection cap reached; refusing new connections')).toBe(true);
  });

  it('with a cap set above what the limit allows, answers 503 or refuses the excess, never exits, and recovers', {
    timeout: 90_000,
  }, async () => {
    const holding = await holdingUpstream();
    upstream = holding.server;
    const relay = await startLimitedRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_MAX_CONNECTIONS: '1000',
    });

    let settled = 0;
    const outcomes = Array.from({ length: CLIENTS }, () =>
      attempt(relay.port, '/v1/hold').then((outcome) => {
        settled++;
        return outcome;
      }),
    );
    // Whatever got through is held; everything else is answered or refused without waiting for the upstream.
    await eventually(
      async () => (settled + holding.held.length === CLIENTS ? true : undefined),
      20_000,
      'every client that did not reach the upstream to be answered or refused',
    );
    expect(relay.child.exitCode).toBeNull();
    holding.release();

    const results = await within(Promise.all(outcomes), 30_000, 'every client to be answered or refused');
    for (const outcome of results) {
      if ('error' in outcome) expect(outcome.error).toMatch(REFUSED);
      else if (outcome.status === 503) expect(JSON.parse(outcome.body).error.code).toBe('relay_overloaded');
      else expect(outcome.status).toBe(200);
    }
    expect(results.filter((o) => 'status' in o && o.status === 200).length).toBe(upstream.requests.length);

    await expectHealthy(relay, upstream);
    expect(relay.logs().filter((line) => line.level === 'fatal')).toEqual([]);
    expect(relay.stderr()).not.toContain('uncaught exception');
  });

  it('at the cap, idle keep-alive connections are closed to make room: /livez still answers (nofile 128, cap 48)', {
    timeout: 60_000,
  }, async () => {
    upstream = await startUpstream();
    const holding = await holdingUpstream();
    const relay = await startLimitedRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url }, 128);
    const listening = relay.logs().find((line) => line.msg === 'relay listening');
    expect(listening?.connectionCap).toMatchObject({ maxConnections: 48 });

    // One connection with a request in flight (its answer is held), then 47 that were answered and stay idle.
    const busy = attempt(relay.port, '/v1/busy');
    upstream.handle((req, res) => {
      req.resume();
      if (req.url === '/v1/busy') holding.held.push(res);
      else res.end('ok');
    });
    const parked: Socket[] = [];
    let closedByRelay = 0;
    try {
      for (let i = 0; i < 47; i++) {
        const socket = connect(relay.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.once('close', () => closedByRelay++);
        parked.push(socket);
        const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
        socket.write('GET /v1/models HTTP/1.1\r\nHost: relay\r\n\r\n');
        await within(answered, 5_000, `keep-alive client ${i} to be answered`);
      }
      await eventually(async () => (holding.held.length === 1 ? true : undefined), 5_000, 'the busy request at the upstream');

      // The relay is at its cap: every probe still gets 200 at once.
      for (let i = 0; i < 5; i++) {
        const probe = await within(attempt(relay.port, '/livez'), 2_000, 'a liveness probe');
        expect(probe).toEqual({ status: 200, body: '{"status":"alive"}' });
      }
      // Room was made by closing idle keep-alive connections, never the one with a request in flight.
      await eventually(async () => (closedByRelay > 0 ? true : undefined), 2_000, 'an idle keep-alive connection to be closed');
      holding.release();
      expect(await within(busy, 5_000, 'the busy request to finish')).toEqual({ status: 200, body: 'ok' });
      const samples = await scrape(relay.port);
      expect(sampleValue(samples, 'tokenplace_relay_connections_refused_total')).toBe(0);
      expectNoCrashLogged(relay);
    } finally {
      for (const socket of parked) socket.destroy();
      await holding.server.close();
    }
  });
});
