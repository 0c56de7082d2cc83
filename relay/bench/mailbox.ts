/**
 * The token.place mailbox benchmark: encrypted round trips (client posts, a node long-polls and
 * answers, the client retrieves) through the in-memory store and through the Valkey/Redis store
 * in the same run, and retrieve polls per second with three replicas sharing one redis-server.
 * Run with `npm run bench:mailbox` (BENCH_SECONDS per phase, default 5).
 */
import { startRedisServer } from '../test/helpers/redis-server.ts';
import { type RelayProcess, startRelay } from '../test/helpers/relay-process.ts';
import { capabilities as nodeCapabilities } from '../test/tokenplace/harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const NODE_KEY = 'bench-node-public-key';
const CLIENT_KEY = 'bench-client-public-key';

const ENV: Record<string, string> = {
  TOKENPLACE_RELAY_OPEN_REGISTRATION: 'true',
  API_RATE_LIMIT: '100000000/hour',
  API_DAILY_QUOTA: '1000000000/day',
  API_RELAY_CONTROL_PLANE_IP_RATE_LIMIT: 'off',
  TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: '10000',
  TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: '1',
};

const capabilities = nodeCapabilities({ max_concurrency: CLIENTS });

async function post(
  relay: RelayProcess,
  path: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${relay.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const envelope = (requestId: string) => ({
  client_public_key: CLIENT_KEY,
  request_id: requestId,
  chat_history: 'Y2lwaGVydGV4dA==',
  cipherkey: 'a2V5',
  iv: 'aXY=',
  protocol: 'tokenplace_api_v1_relay_e2ee',
  version: 1,
});

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** Round trips for SECONDS: each client posts through one replica and retrieves through the next; the node polls all. */
async function roundTrips(replicas: RelayProcess[]): Promise<{ p50: number; p99: number; count: number }> {
  const registered = await post(replicas[0], '/api/v1/relay/servers/register', { server_public_key: NODE_KEY, capabilities });
  if (registered.status !== 200) throw new Error(`register: ${registered.status}`);
  const until = performance.now() + SECONDS * 1000;
  let running = true;
  const pollers = Array.from({ length: CLIENTS }, async (_, i) => {
    while (running) {
      // A poll cut off when the phase ends is expected.
      const work = await post(replicas[i % replicas.length], '/api/v1/relay/servers/poll', { server_public_key: NODE_KEY }).catch(
        () => ({ status: 0, body: {} as Record<string, unknown> }),
      );
      const requestId = work.body.request_id;
      if (typeof requestId === 'string')
        await post(replicas[(i + 1) % replicas.length], '/api/v1/relay/responses', envelope(requestId));
    }
  });
  const latencies: number[] = [];
  let sequence = 0;
  const phase = Date.now();
  const clients = Array.from({ length: CLIENTS }, async (_, i) => {
    while (performance.now() < until) {
      const requestId = `bench-${phase}-${i}-${sequence++}`;
      const started = performance.now();
      const queued = await post(replicas[i % replicas.length], '/api/v1/relay/requests', {
        ...envelope(requestId),
        server_public_key: NODE_KEY,
      });
      if (queued.status !== 200) throw new Error(`requests: ${queued.status} ${JSON.stringify(queued.body)}`);
      for (;;) {
        const got = await post(replicas[(i + 2) % replicas.length], '/api/v1/relay/responses/retrieve', {
          client_public_key: CLIENT_KEY,
          request_id: requestId,
        });
        if (got.status === 200) break;
        if (got.status !== 202) throw new Error(`retrieve: ${got.status}`);
        // A client that polls without a pause measures its own CPU use more than the relay.
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      latencies.push(performance.now() - started);
    }
  });
  await Promise.all(clients);
  running = false;
  await post(replicas[0], '/api/v1/relay/servers/unregister', { server_public_key: NODE_KEY }).catch(() => undefined);
  await Promise.race([Promise.all(pollers), new Promise((resolve) => setTimeout(resolve, 12_000))]);
  latencies.sort((a, b) => a - b);
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), count: latencies.length };
}

/** Retrieve polls per second for pending requests, spread over the replicas. */
async function retrievePolls(replicas: RelayProcess[]): Promise<number> {
  await post(replicas[0], '/api/v1/relay/servers/register', { server_public_key: `${NODE_KEY}-idle`, capabilities });
  const ids = Array.from({ length: CLIENTS }, (_, i) => `pending-${i}-${Date.now()}`);
  for (const id of ids)
    await post(replicas[0], '/api/v1/relay/requests', { ...envelope(id), server_public_key: `${NODE_KEY}-idle` });
  const until = performance.now() + SECONDS * 1000;
  let polls = 0;
  await Promise.all(
    ids.map(async (id, i) => {
      while (performance.now() < until) {
        await post(replicas[i % replicas.length], '/api/v1/relay/responses/retrieve', {
          client_public_key: CLIENT_KEY,
          request_id: id,
        });
        polls++;
      }
    }),
  );
  return polls / SECONDS;
}

async function run(name: string, count: number, env: Record<string, string>) {
  console.error(`mailbox bench: ${name}`);
  const replicas = await Promise.all(Array.from({ length: count }, () => startRelay({ ...ENV, ...env })));
  try {
    const trips = await roundTrips(replicas);
    const polls = await retrievePolls(replicas);
    return { name, ...trips, polls };
  } catch (err) {
    console.error(err);
    for (const replica of replicas) {
      console.error(
        `replica ${replica.port} exit ${replica.child.exitCode ?? replica.child.signalCode}:\n${replica.stderr().slice(-2000)}${replica.stdout().slice(-3000)}`,
      );
    }
    throw err;
  } finally {
    await Promise.all(replicas.map((replica) => replica.stop()));
  }
}

const redis = await startRedisServer();
try {
  const rows = [
    await run('in memory, 1 replica', 1, {}),
    await run('Valkey/Redis, 1 replica', 1, { TOKENPLACE_RELAY_STATE_URL: redis.url }),
    await run('Valkey/Redis, 3 replicas', 3, { TOKENPLACE_RELAY_STATE_URL: redis.url }),
  ];
  const base = rows[0].p99;
  console.log(`mailbox round trips, ${CLIENTS} clients, ${SECONDS} s per phase (loopback)`);
  console.log('| store | round trips | p50 ms | p99 ms | added p99 ms | retrieve polls/s |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const row of rows) {
    const added = row === rows[0] ? '' : (row.p99 - base).toFixed(2);
    console.log(
      `| ${row.name} | ${row.count} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${added} | ${Math.round(row.polls)} |`,
    );
  }
} finally {
  await redis.stop();
}
