/**
 * Rate-limit counters on Node: rate-limiter-flexible's in-memory fixed windows, one limiter per
 * rule. Chosen because it is well kept, counts atomically, and has Redis/Valkey-backed limiters
 * with the same interface for when several replicas must share one budget.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type {
  RateLimiterAbstract,
  RateLimiterMemory as RateLimiterMemoryType,
  RateLimiterRedis as RateLimiterRedisType,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { RateLimiter, RateLimiterFactory } from '../src/tokenplace/rate-limits.ts';
import { StoreUnavailableError } from '../src/tokenplace/store.ts';
import type { StateClient } from './redis-store/connect.ts';

// Only the limiters' own files: the package index also loads its cluster and database adapters.
const require = createRequire(import.meta.url);
const { RateLimiterMemory, RateLimiterRedis } = {
  RateLimiterMemory: require('rate-limiter-flexible/lib/RateLimiterMemory.js'),
  RateLimiterRedis: require('rate-limiter-flexible/lib/RateLimiterRedis.js'),
} as {
  RateLimiterMemory: typeof RateLimiterMemoryType;
  RateLimiterRedis: typeof RateLimiterRedisType;
};

function counting(limiter: RateLimiterAbstract, keyOf: (key: string) => string = (key) => key): RateLimiter {
  return {
    async consume(key) {
      try {
        await limiter.consume(keyOf(key));
        return { allowed: true, retryAfterSeconds: 0 };
      } catch (rejection) {
        // The Redis limiter rejects with an Error when the store fails, with a RateLimiterRes when the budget is spent.
        if (rejection instanceof Error)
          throw new StoreUnavailableError(`rate limiter: ${rejection.message}`, { cause: rejection });
        const res = rejection as RateLimiterRes;
        return { allowed: false, retryAfterSeconds: Math.ceil((res.msBeforeNext ?? 1000) / 1000) };
      }
    },
  };
}

export const memoryRateLimiters: RateLimiterFactory = (rule, name) =>
  counting(new RateLimiterMemory({ keyPrefix: name, points: rule.points, duration: rule.durationSeconds }));

/** One budget for all replicas, counted in the shared Valkey/Redis; client addresses are hashed in key names. */
export function redisRateLimiters(client: StateClient, prefix: string): RateLimiterFactory {
  const hashed = (key: string) => createHash('sha1').update(key).digest('hex');
  return (rule, name) =>
    counting(
      new RateLimiterRedis({
        storeClient: client,
        keyPrefix: `${prefix}rl:${name}`,
        points: rule.points,
        duration: rule.durationSeconds,
      }),
      hashed,
    );
}
