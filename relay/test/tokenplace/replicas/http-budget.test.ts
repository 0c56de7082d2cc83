/**
 * One GPU budget for the HTTP upstream across replicas: three relay processes share one
 * redis-server in front of a stand-in GPU host that counts how many requests it runs at once.
 * The capacity holds across replicas, a slot held by a replica killed with SIGKILL comes back when
 * its lease runs out (and not before: leases are renewed while the exchange runs), and a state
 * store that cannot be reached costs a 503 with Retry-After, never a crash.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { expectJsonError, expectNoCrashLogged } from '../../faults/expect.ts';
import { deferred, eventually } from '../../helpers/async.ts';
import { getJson, send } from '../../helpers/http-client.ts';
import { sampleValue, scrape } from '../../helpers/metrics.ts';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.ts';
import { type RelayProcess, startRelay, stopAllRelays } from '../../helpers/relay-process.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream-server.ts';

let redis: RedisServer | undefined;
let upstream: TestUpstream | undefined;

afterEach(async () => {
  await stopAllRelays();
  await upstream?.close();
  upstream = undefined;
  await redis?.stop();
  redis = undefined;
});

/** A GPU host that answers each request after generationMs, or when released, and records its peak concurrency. */
async function gpuHost(generationMs: number | 'held') {
  const server = await startUpstream();
  const gpu = { server, running: 0, peak: 0, started: 0, release: deferred() };
  server.handle((req, res, recorded) => {
    req.resume();
    void recorded.settled.then(async () => {
      gpu.running++;
      gpu.started++;
      gpu.peak = Math.max(gpu.peak, gpu.running);
      if (generationMs === 'held') await Promise.race([gpu.release.promise, new Promise((done) => res.once('close', done))]);
      else await new Promise((resolve) => setTimeout(resolve, generationMs));
      gpu.running--;
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices":[]}');
    });
  });
  return gpu;
}

async function replicas(count: number, env: Record<string, string>): Promise<RelayProcess[]> {
  const started = await Promise.all(Array.from({ length: count }, () => startRelay(env)));
  // Each replica answers once its connection to the state store is up.
  for (const relay of started) {
    await eventually(async () => ((await getJson(relay.port, '/healthz')).status === 200 ? true : undefined), 10_000, 'ready');
  }
  return started;
}

const chat = (port: number, ms = 30_000) =>
  send(
    port,
    {
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json' },
      body: '{"model":"m","messages":[{"role":"user","content":"hi"}]}',
    },
    ms,
  );

describe('one GPU budget for the HTTP upstream across replicas', { timeout: 90_000 }, () => {
  it('three replicas never run more than the capacity (3) on the GPU host under 60 concurrent clients', async () => {
    redis = await startRedisServer();
    const gpu = await gpuHost(100);
    upstream = gpu.server;
    const relays = await replicas(3, {
      TOKENPLACE_RELAY_STATE_URL: redis.url,
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '3',
      TOKENPLACE_RELAY_QUEUE_LENGTH: '60',
      TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '60000',
    });

    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => chat(relays[i % 3].port)));

    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    expect(gpu.started).toBe(60);
    expect(gpu.peak).toBeLessThanOrEqual(3);
    expect(gpu.peak).toBe(3);
    for (const relay of relays) expectNoCrashLogged(relay);
  });

  it('a slot held by a replica killed with SIGKILL comes back after its lease, and not while the replica renews it', async () => {
    redis = await startRedisServer();
    const gpu = await gpuHost('held');
    upstream = gpu.server;
    const [a, b] = await replicas(2, {
      TOKENPLACE_RELAY_STATE_URL: redis.url,
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '1',
      TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '30000',
      TOKENPLACE_RELAY_STATE_SLOT_LEASE_SECONDS: '2',
    });

    void chat(a.port).catch(() => undefined);
    await eventually(async () => (gpu.running === 1 ? true : undefined), 5_000, 'A to hold the one slot');
    const waiting = chat(b.port);
    // Over two leases long: A keeps renewing, so B's request waits.
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    expect(gpu.started).toBe(1);

    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    await eventually(async () => (gpu.started === 2 ? true : undefined), 10_000, "B's request to reach the GPU host");
    const after = Date.now() - killedAt;
    gpu.release.resolve();
    expect((await waiting).status).toBe(200);
    // The lease (2 s) ran out, then the next poll of B's queue took the slot.
    expect(after).toBeLessThan(8_000);
    expect(gpu.peak).toBe(1);
    expectNoCrashLogged(b);
  });

  it('answers 503 with Retry-After while the state store is down, and forwards again once it is back', async () => {
    redis = await startRedisServer();
    const gpu = await gpuHost(10);
    upstream = gpu.server;
    const [relay] = await replicas(1, {
      TOKENPLACE_RELAY_STATE_URL: redis.url,
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream.url,
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '2',
    });
    expect((await chat(relay.port)).status).toBe(200);

    await redis.stop();
    const refused = await chat(relay.port);
    expectJsonError(refused, 503, 'state_unavailable');
    expect(refused.headers['retry-after']).toBe('1');
    expect((await getJson(relay.port, '/livez')).status).toBe(200);
    expect(gpu.started).toBe(1);
    const samples = await scrape(relay.port);
    expect(sampleValue(samples, 'tokenplace_relay_state_store_errors_total', { operation: 'slot_acquire' })).toBe(1);
    expect(sampleValue(samples, 'tokenplace_relay_admission_rejections_total', { reason: 'state_unavailable' })).toBe(1);

    await redis.start();
    await eventually(async () => ((await chat(relay.port)).status === 200 ? true : undefined), 15_000, 'forwarding to resume');
    expect(relay.child.exitCode).toBeNull();
    expectNoCrashLogged(relay);
  });
});
