/** The rate limits on the shared store: one budget for every replica, expiring keys without the client address, 503 on failure. */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisRateLimiters } from '../../../node/rate-limiters.ts';
import { StoreUnavailableError } from '../../../src/tokenplace/store.ts';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.ts';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis?.stop();
});

const RULE = { points: 3, durationSeconds: 60, text: '3/minute' };

describe('rate limits on Valkey/Redis', () => {
  it('two replicas spend one budget per client address', async () => {
    const clients = [new Redis(redis.url), new Redis(redis.url)];
    try {
      const [a, b] = clients.map((client) => redisRateLimiters(client, 'limits:{relay}:')(RULE, 'public_0'));
      const answers = [];
      for (const limiter of [a, b, a, b]) answers.push(await limiter.consume('203.0.113.9'));
      expect(answers.map((answer) => answer.allowed)).toEqual([true, true, true, false]);
      expect(answers[3].retryAfterSeconds).toBeGreaterThan(0);
      expect((await b.consume('198.51.100.7')).allowed).toBe(true);

      const keys = await clients[0].keys('limits:*');
      expect(keys.length).toBe(2);
      for (const key of keys) {
        expect(key).not.toContain('203.0.113.9');
        expect(await clients[0].pttl(key)).toBeGreaterThan(0);
      }
    } finally {
      for (const client of clients) client.disconnect();
    }
  });

  it('a store that cannot be reached is StoreUnavailableError (a 503), not a spent budget (a 429)', async () => {
    const client = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, lazyConnect: true, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      const limiter = redisRateLimiters(client, 'limits:{relay}:')(RULE, 'public_0');
      await expect(limiter.consume('203.0.113.9')).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      client.disconnect();
    }
  });
});
