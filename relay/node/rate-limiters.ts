/**
 * Rate-limit counters on Node: rate-limiter-flexible's in-memory fixed windows, one limiter per
 * rule. Chosen because it is well kept, counts atomically, and has Redis/Valkey-backed limiters
 * with the same interface for when several replicas must share one budget.
 */
import { createRequire } from 'node:module';
import type { RateLimiterMemory as RateLimiterMemoryType, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterFactory } from '../src/tokenplace/rate-limits.ts';

// Only the memory limiter's own file: the package index also loads its cluster and database adapters.
const { RateLimiterMemory } = {
  RateLimiterMemory: createRequire(import.meta.url)('rate-limiter-flexible/lib/RateLimiterMemory.js'),
} as {
  RateLimiterMemory: typeof RateLimiterMemoryType;
};

export const memoryRateLimiters: RateLimiterFactory = (rule, name) => {
  const limiter = new RateLimiterMemory({ keyPrefix: name, points: rule.points, duration: rule.durationSeconds });
  return {
    async consume(key) {
      try {
        await limiter.consume(key);
        return { allowed: true, retryAfterSeconds: 0 };
      } catch (rejection) {
        const res = rejection as RateLimiterRes;
        return { allowed: false, retryAfterSeconds: Math.ceil((res.msBeforeNext ?? 1000) / 1000) };
      }
    },
  };
};
