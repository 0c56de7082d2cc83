/**
 * Runs the store's Lua transitions on Valkey/Redis: each script is defined once on the client (sent
 * by EVALSHA, with ioredis falling back to EVAL after a restarted server lost its script cache),
 * timed for the metrics, and a failure of the connection becomes a StoreUnavailableError (a 503).
 */

import { type StoreObserver, StoreUnavailableError } from '../../src/tokenplace/store.ts';
import type { TerminalStatus } from '../../src/tokenplace/wire.ts';
import type { StateClient } from './connect.ts';

export interface StoreMetrics {
  operation(op: string, seconds: number, ok: boolean): void;
}

// biome-ignore lint/suspicious/noExplicitAny: script replies are cjson tables of many shapes
export type Reply = { r: string; ev?: [TerminalStatus | 'completed', string][] | Record<string, never> } & Record<string, any>;
type ScriptCall = (key: string, ...args: (string | number)[]) => Promise<string>;

export interface ScriptRunnerOptions {
  client: StateClient;
  /** KEYS[1] of every script: the key prefix, with a hash tag. */
  prefix: string;
  terminalTtlMs: number;
  tombstoneTtlMs: number;
  observer?: StoreObserver;
  metrics?: StoreMetrics;
}

export class ScriptRunner {
  readonly #options: ScriptRunnerOptions;
  readonly #redis: StateClient;
  readonly #defined = new Set<string>();

  constructor(options: ScriptRunnerOptions) {
    this.#options = options;
    this.#redis = options.client;
  }

  /** Defines scripts (name and full Lua source) on the client; each takes the prefix as its one key. */
  define(scripts: Iterable<[string, string]>): void {
    for (const [name, lua] of scripts) {
      if (this.#defined.has(name)) continue;
      this.#redis.defineCommand(`tp_${name}`, { numberOfKeys: 1, lua });
      this.#defined.add(name);
    }
  }

  /** Runs a script: ARGV is the caller's clock, the two TTLs, then the script's own arguments. */
  async run(op: string, now: number, ...args: (string | number)[]): Promise<Reply> {
    const started = performance.now();
    const call = (this.#redis as unknown as Record<string, ScriptCall>)[`tp_${op}`];
    const { prefix, terminalTtlMs, tombstoneTtlMs } = this.#options;
    let text: string;
    try {
      text = await call.call(this.#redis, prefix, now, terminalTtlMs, tombstoneTtlMs, ...args);
    } catch (err) {
      this.#options.metrics?.operation(op, (performance.now() - started) / 1000, false);
      throw new StoreUnavailableError(`state store ${op} failed: ${(err as Error).message}`, { cause: err });
    }
    this.#options.metrics?.operation(op, (performance.now() - started) / 1000, true);
    const reply = JSON.parse(text) as Reply;
    if (Array.isArray(reply.ev)) for (const [status, reason] of reply.ev) this.#options.observer?.terminal?.(status, reason);
    return reply;
  }

  /** The client was disconnected for good (the store was closed). */
  get closed(): boolean {
    return this.#redis.status === 'end';
  }

  /** A plain command; a failure becomes a StoreUnavailableError. */
  async plain<T>(command: (redis: StateClient) => Promise<T>): Promise<T> {
    try {
      return await command(this.#redis);
    } catch (err) {
      throw new StoreUnavailableError(`state store failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
