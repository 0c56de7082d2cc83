/**
 * (b) 200 clients waiting: each has a request queued for a node that never answers, and each hammers
 * POST /responses/retrieve in a loop (one request at a time on its own keep-alive connection), as
 * token.place's clients do while they wait, only without their poll interval. Every answer should be
 * 202 pending; anything else is counted and reported.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';
import { expectOk, FakeNode } from './fake-node.ts';
import { percentile } from './stats.ts';
import { clientEnvelope, fakePublicKey, postJson } from './wire.ts';

export interface RetrieveLoadOptions {
  clients: number;
  warmupSeconds: number;
  seconds: number;
  /** Called about every 250 ms while the clients hammer (the caller samples the relay's memory). */
  sample(): void;
  /** Called when the measured seconds begin and end (the caller reads the relay's CPU time). */
  measuring(phase: 'start' | 'end'): void;
}

export interface RetrieveLoad {
  requestsPerSecond: number;
  /** Answers of any status sent within the measured seconds. */
  answered: number;
  p50: number;
  p99: number;
  /** Answers other than 202, by status ("error" for a failed connection). */
  unexpected: Record<string, number>;
}

/** With several origins (replicas sharing one store) the clients are spread over them. */
export async function measureRetrieveLoad(origins: string[], options: RetrieveLoadOptions): Promise<RetrieveLoad> {
  const origin = origins[0];
  const node = new FakeNode(origin);
  await node.register();
  const clients = Array.from({ length: options.clients }, () => ({
    client_public_key: fakePublicKey(),
    request_id: randomUUID(),
  }));
  const setup = new Pool(origin, { connections: 8 });
  for (let i = 0; i < clients.length; i += 8) {
    await Promise.all(
      clients.slice(i, i + 8).map(async (client) => {
        const envelope = clientEnvelope(node.publicKey, client.client_public_key, client.request_id);
        expectOk(await postJson(setup, '/api/v1/relay/requests', envelope), 'POST /api/v1/relay/requests');
      }),
    );
  }
  await setup.destroy();

  const connections = Math.ceil(options.clients / origins.length);
  const pools = origins.map((each) => new Pool(each, { connections, pipelining: 1 }));
  const latencies: number[] = [];
  const unexpected: Record<string, number> = {};
  const count = (key: string) => {
    unexpected[key] = (unexpected[key] ?? 0) + 1;
  };
  const startedAt = performance.now();
  const measureFrom = startedAt + options.warmupSeconds * 1000;
  const stopAt = measureFrom + options.seconds * 1000;
  const sampler = setInterval(options.sample, 250);
  const marks = [
    setTimeout(() => options.measuring('start'), measureFrom - startedAt),
    setTimeout(() => options.measuring('end'), stopAt - startedAt),
  ];
  const loop = async (pool: Pool, body: string) => {
    while (performance.now() < stopAt) {
      const sent = performance.now();
      let status: string;
      try {
        const answer = await pool.request({
          method: 'POST',
          path: '/api/v1/relay/responses/retrieve',
          headers: JSON_HEADERS,
          body,
        });
        await answer.body.dump();
        status = String(answer.statusCode);
      } catch {
        status = 'error';
      }
      if (sent < measureFrom || sent >= stopAt) continue;
      if (status === '202') latencies.push(performance.now() - sent);
      else count(status);
    }
  };
  try {
    await Promise.all(clients.map((client, i) => loop(pools[i % pools.length], JSON.stringify(client))));
  } finally {
    clearInterval(sampler);
    for (const mark of marks) clearTimeout(mark);
    await Promise.all(pools.map((pool) => pool.destroy()));
    await node.stop();
  }
  return {
    requestsPerSecond: latencies.length / options.seconds,
    answered: latencies.length + Object.values(unexpected).reduce((sum, n) => sum + n, 0),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    unexpected,
  };
}

const JSON_HEADERS = { 'content-type': 'application/json' };
