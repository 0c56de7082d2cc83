/** What every fault case checks: the client got a clear answer, and the relay is healthy afterwards. */
import { expect } from 'vitest';
import { type ClientResponse, getJson, type RawResponse, send } from '../helpers/http-client.ts';
import type { RelayProcess } from '../helpers/relay-process.ts';
import { echo, type TestUpstream } from '../helpers/upstream-server.ts';

/** A JSON error body `{"error": {"code", "message"}}` with the given status and code. */
export function expectJsonError(res: ClientResponse | RawResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  const contentType = Array.isArray(res.headers)
    ? res.headers.find(([name]) => name === 'content-type')?.[1]
    : res.headers['content-type'];
  expect(contentType).toMatch(/^application\/json/);
  const body = JSON.parse(res.body.toString('utf8'));
  expect(body).toEqual({ error: { code, message: expect.any(String) } });
  expect(body.error.message.length).toBeGreaterThan(0);
}

/**
 * The relay process is still running, both probes answer 200, and (given an upstream) a normal
 * request is forwarded and answered. The upstream goes back to echoing.
 */
export async function expectHealthy(relay: RelayProcess, upstream?: TestUpstream): Promise<void> {
  expect(relay.child.exitCode, `relay exited; stderr: ${relay.stderr()}`).toBeNull();
  expect(relay.child.signalCode).toBeNull();
  expect(await getJson(relay.port, '/livez')).toEqual({ status: 200, body: { status: 'alive' } });
  expect((await getJson(relay.port, '/healthz')).status).toBe(200);
  if (upstream === undefined) return;
  upstream.handle(echo);
  const before = upstream.requests.length;
  const res = await send(relay.port, { path: '/after-the-fault', headers: { 'x-request-id': 'health-check' } });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body.toString('utf8')).url).toBe('/after-the-fault');
  expect(upstream.requests.length).toBe(before + 1);
}

/** The relay never logged a crash or a file-descriptor exhaustion. */
export function expectNoCrashLogged(relay: RelayProcess): void {
  const output = relay.stdout() + relay.stderr();
  expect(output).not.toMatch(/uncaught exception|EMFILE|ENFILE/);
  expect(relay.logs().filter((line) => line.level === 'fatal')).toEqual([]);
}
