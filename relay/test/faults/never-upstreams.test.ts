/**
 * Fault suite, addresses the relay never connects to: cloud metadata and link-local addresses
 * (whatever the allowlist says, and also when a listed host name resolves to one), and port 0.
 */
import { describe, expect, it } from 'vitest';
import { withFakeDns } from '../helpers/fake-dns.ts';
import { send } from '../helpers/http-client.ts';
import { runRelayToExit, startRelay } from '../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream-server.ts';
import { stopRelaysAndUpstreamsAfterEach } from './cleanup.ts';
import { expectHealthy, expectJsonError, expectNoCrashLogged } from './expect.ts';

const TOKEN = 'never-upstreams-node-token-93af';

let upstream: TestUpstream | undefined;

stopRelaysAndUpstreamsAfterEach();

function register(port: number, url: string) {
  return send(port, {
    method: 'POST',
    path: '/relay/servers',
    headers: { 'content-type': 'application/json', 'x-relay-server-token': TOKEN },
    body: JSON.stringify({ url }),
  });
}

describe('addresses never connected to', () => {
  it('refuses cloud metadata, link-local and port 0 registrations even when the allowlist allows everything', async () => {
    upstream = await startUpstream();
    const relay = await startRelay({
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN,
      TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '0.0.0.0/0,::/0',
    });
    for (const url of [
      'http://169.254.169.254/',
      'http://169.254.169.254:80/latest/meta-data/',
      'http://[fd00:ec2::254]/',
      'http://[fd20:ce::254]/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fe80::1]:8000/',
      'http://169.254.10.10:8000/',
      'http://100.100.100.200/',
      'http://10.0.0.7:0/',
    ]) {
      const res = await register(relay.port, url);
      expectJsonError(res, 400, 'upstream_not_allowed');
    }
    // Without a list, a private address still registers (the documented default).
    const listed = await startRelay({ TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url, TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN });
    expectJsonError(await register(listed.port, 'http://[fd00:ec2::254]/'), 400, 'upstream_not_allowed');
    expect((await register(listed.port, 'http://10.43.0.1:8000')).status).toBe(201);
    await expectHealthy(relay, upstream);
    expectNoCrashLogged(relay);
  });

  it('checks what a host name resolves to when it connects: a listed name that resolves to a metadata address is never contacted', async () => {
    upstream = await startUpstream();
    const relay = await startRelay({
      ...withFakeDns({ 'gpu.test': ['127.0.0.1'], 'metadata.test': ['169.254.169.254', 'fd00:ec2::254'] }),
      TOKENPLACE_RELAY_UPSTREAM_URL: `http://gpu.test:${upstream.port}`,
      TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN,
      TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: 'metadata.test',
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
      TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS: '3000',
    });
    // The static upstream, reached by a name through the same lookup, still works.
    await expectHealthy(relay, upstream);

    expect((await register(relay.port, 'http://metadata.test/')).status).toBe(201);
    // Hold the static upstream's only slot, so the next request goes to the registered node.
    upstream.handle(() => undefined);
    const held = send(relay.port, { path: '/hold' }, 10_000).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const res = await send(relay.port, { path: '/latest/meta-data/iam' }, 5_000);
    expectJsonError(res, 502, 'upstream_unavailable');
    expect(Date.now() - started).toBeLessThan(1_500);
    const line = await relay.waitForLog((entry) => entry.msg === 'request' && entry.status === 502, 3_000, 'the 502 log line');
    expect(String(line?.error)).toMatch(/never connects to/);
    void held;
    expectNoCrashLogged(relay);
  });

  it('refuses port 0 in TOKENPLACE_RELAY_UPSTREAM_URL', async () => {
    const exit = await runRelayToExit({ TOKENPLACE_RELAY_UPSTREAM_URL: 'http://10.0.0.7:0' });
    expect(exit.code).not.toBe(0);
    expect(exit.stdout + exit.stderr).toMatch(/TOKENPLACE_RELAY_UPSTREAM_URL.*port 0/);
  });
});
