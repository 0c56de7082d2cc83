import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, eventually, within } from '../helpers/async.ts';
import { getJson, openStream, send } from '../helpers/http-client.ts';
import { type LogLine, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import { echo, startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';

let upstream: TestUpstream;

beforeAll(async () => {
  upstream = await startUpstream();
});

afterAll(async () => {
  await stopAllRelays();
  await upstream?.close();
});

/** An upstream stream that sends one event, then waits for the test to let it finish. */
function heldStream(): { release: () => void } {
  const gate = deferred();
  upstream.handle((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    void gate.promise.then(() => res.end('data: last\n\n'));
  });
  return { release: () => gate.resolve() };
}

/** A keep-alive connection that has finished one request and now sits idle. */
async function idleKeepAliveSocket(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const answered = deferred();
  socket.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('"alive"')) answered.resolve();
  });
  socket.on('error', () => undefined);
  socket.write(`GET /livez HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`);
  await within(answered.promise, 3_000, 'the keep-alive probe answer');
  return { socket, closed };
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

const phase = (name: string) => (line: LogLine) => line.phase === name;

describe('graceful shutdown of the real process', () => {
  it('on SIGTERM: readiness 503 during the drain, in-flight request completes, then exit 0 with each phase logged', async () => {
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      // Long enough for the probes below to run inside the drain even on a busy machine.
      TOKENPLACE_RELAY_DRAIN_SECONDS: '2',
      TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS: '5',
    });
    const upstreamStream = heldStream();
    const idle = await idleKeepAliveSocket(relay.port);
    const stream = await openStream(relay.port, { path: '/v1/chat/completions', headers: { 'x-request-id': 'in-flight-1' } });
    await stream.waitFor('data: first\n\n', 3_000);

    relay.child.kill('SIGTERM');

    // Readiness fails as soon as the signal is handled; the process keeps serving meanwhile.
    const healthz = await eventually(
      async () => {
        const res = await getJson(relay.port, '/healthz');
        return res.status === 503 ? res : undefined;
      },
      2_000,
      '/healthz to report 503',
    );
    expect(healthz.body).toEqual({ status: 'draining' });
    expect((await getJson(relay.port, '/livez')).status).toBe(503);
    await relay.waitForLog(phase('draining'), 1_000, 'the draining log line');
    upstream.handle(echo);
    const duringDrain = await send(relay.port, { path: '/v1/models' });
    expect(duringDrain.status).toBe(200);

    // After the drain: no new connections, but the request in flight is still being answered.
    await relay.waitForLog(phase('stopping'), 4_000, 'the stopping log line');
    expect(await refusesConnections(relay.port)).toBe(true);
    expect(relay.child.exitCode).toBeNull();
    upstreamStream.release();
    expect(await within(stream.ended, 3_000, 'the in-flight response to complete')).toBe('data: first\n\ndata: last\n\n');

    expect(await within(relay.exited, 5_000, 'the relay to exit')).toEqual({ code: 0, signal: null });
    await within(idle.closed, 1_000, 'the idle keep-alive connection to be closed');

    const logs = relay.logs();
    const messages = logs.map((line) => line.phase ?? line.msg);
    const order = ['shutdown requested', 'draining', 'stopping', 'stopped'].map((step) => messages.indexOf(step));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(logs.find((line) => line.msg === 'shutdown requested')?.signal).toBe('SIGTERM');
    expect(logs.find(phase('stopped'))?.clean).toBe(true);
    expect(logs.find((line) => line.requestId === 'in-flight-1')).toMatchObject({ status: 200, msg: 'request' });
    expect(relay.stderr()).toBe('');
  });

  it('cuts requests still running at the shutdown timeout, logs it and still exits', async () => {
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_DRAIN_SECONDS: '0',
      TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS: '0.5',
    });
    const upstreamClosed = deferred();
    upstream.handle((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      res.once('close', () => upstreamClosed.resolve());
    });
    const stream = await openStream(relay.port, { path: '/v1/chat/completions' });
    await stream.waitFor('data: first\n\n', 3_000);

    relay.child.kill('SIGTERM');

    const exit = await within(relay.exited, 4_000, 'the relay to exit after its shutdown timeout');
    expect(exit).toEqual({ code: 0, signal: null });
    await expect(stream.ended).rejects.toThrow(/cut off/);
    await within(upstreamClosed.promise, 2_000, 'the upstream stream to be closed');
    const stopped = relay.logs().find(phase('stopped'));
    expect(stopped?.clean).toBe(false);
    expect(relay.logs().some((line) => line.level === 'warn' && /shutdown timeout/.test(String(line.msg)))).toBe(true);
  });

  it('exits at once, non-zero, on a second signal during the drain', async () => {
    const relay = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url, TOKENPLACE_RELAY_DRAIN_SECONDS: '30' });
    relay.child.kill('SIGTERM');
    await relay.waitForLog(phase('draining'), 2_000, 'the draining log line');
    relay.child.kill('SIGINT');
    const exit = await within(relay.exited, 2_000, 'the relay to exit on the second signal');
    expect(exit.code).toBe(1);
    expect(relay.logs().some((line) => line.msg === 'second signal; exiting now')).toBe(true);
  });
});
