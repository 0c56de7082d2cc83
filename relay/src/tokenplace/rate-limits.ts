/**
 * Rate limits as relay.py applies them: a public quota on the mutating client routes per client
 * address, and a budget per address for the compute-node routes. Counting is delegated to a
 * limiter the runtime supplies (on Node, rate-limiter-flexible), so a shared store can count
 * across replicas.
 */
import type { RateLimitRule } from './settings.ts';

export interface RateLimiter {
  /** Counts one hit for key; allowed false once the rule's points are spent in its window. */
  consume(key: string): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
}

export type RateLimiterFactory = (rule: RateLimitRule, name: string) => RateLimiter;

export interface RateLimitRefusal {
  rule: RateLimitRule;
  retryAfterSeconds: number;
}

export class RateLimits {
  readonly #public: { rule: RateLimitRule; limiter: RateLimiter }[];
  readonly #controlPlane: { rule: RateLimitRule; limiter: RateLimiter } | undefined;

  constructor(
    publicRules: readonly RateLimitRule[],
    controlPlaneRule: RateLimitRule | undefined,
    factory: RateLimiterFactory | undefined,
  ) {
    this.#public = factory === undefined ? [] : publicRules.map((rule, i) => ({ rule, limiter: factory(rule, `public_${i}`) }));
    this.#controlPlane =
      factory === undefined || controlPlaneRule === undefined
        ? undefined
        : { rule: controlPlaneRule, limiter: factory(controlPlaneRule, 'control_plane_ip') };
  }

  /**
   * The public quota (every rule is charged); the first rule exhausted, if any. The rules are
   * charged together: with a shared store that is one round trip for all of them.
   */
  async public(client: string): Promise<RateLimitRefusal | undefined> {
    const results = await Promise.all(this.#public.map(({ limiter }) => limiter.consume(client)));
    for (let i = 0; i < results.length; i++) {
      if (!results[i].allowed) return { rule: this.#public[i].rule, retryAfterSeconds: results[i].retryAfterSeconds };
    }
    return undefined;
  }

  async controlPlane(client: string): Promise<RateLimitRefusal | undefined> {
    if (this.#controlPlane === undefined) return undefined;
    const result = await this.#controlPlane.limiter.consume(client);
    return result.allowed ? undefined : { rule: this.#controlPlane.rule, retryAfterSeconds: result.retryAfterSeconds };
  }
}
