/**
 * The relay's protocol state on Valkey/Redis, shared by every replica: each transition is one Lua
 * script (lua-scripts.ts, run by script-runner.ts), long polls are woken across replicas by pub/sub
 * (wake.ts), and every key has a TTL.
 */
import { createHash } from 'node:crypto';
import type { Capabilities } from '../../src/tokenplace/capabilities.ts';
import type { Envelope } from '../../src/tokenplace/envelope.ts';
import { sizeOf } from '../../src/tokenplace/memory-node.ts';
import { selectBestFit } from '../../src/tokenplace/scheduler.ts';
import type {
  ClaimResult,
  ControlResult,
  EnqueueResult,
  NodeRecord,
  NodeView,
  ProgressResult,
  RegisterResult,
  ResponseResult,
  RetrieveResult,
  Selection,
  SelectionCriteria,
  StoreObserver,
  TokenPlaceStore,
  UnregisterResult,
  Work,
} from '../../src/tokenplace/store.ts';
import type { Json, TerminalStatus } from '../../src/tokenplace/wire.ts';
import type { StateClient } from './connect.ts';
import { SCRIPT_NAMES, type ScriptName, scriptSource } from './lua-scripts.ts';
import { nodeViews } from './node-views.ts';
import { type Reply, ScriptRunner, type ScriptRunnerOptions } from './script-runner.ts';
import { WakeBoard } from './wake.ts';

export type { StoreMetrics } from './script-runner.ts';

/** The prefix must carry a hash tag, e.g. `tokenplace:{relay}:`, so a cluster keeps all keys in one slot. */
export interface RedisStoreOptions extends ScriptRunnerOptions {
  subscriber: StateClient;
  maxNodes: number;
  /** Ciphertext held at most across all replicas; enqueue refuses beyond it. */
  maxStoredBytes: number;
  /** How often this replica expires what is due when no request triggers it; 0: only on requests. */
  sweepIntervalMs: number;
  /**
   * Sweeps asked for by requests within this many ms of the last one are skipped: every transition
   * already checks the deadlines of what it touches, so a sweep per request would only double the
   * round trips to the store. 0: every sweep runs (tests that move the clock by hand).
   */
  sweepMinGapMs?: number;
}

export const nodeHash = (publicKey: string) => createHash('sha1').update(publicKey).digest('hex');

const NODE_POLL_SLICE_MS = 2000;

export class RedisStore implements TokenPlaceStore {
  readonly #options: RedisStoreOptions;
  readonly #redis: StateClient;
  readonly #scripts: ScriptRunner;
  readonly #wake: WakeBoard;
  readonly #observer: StoreObserver;
  /** The wake generation seen when a claim of the node began, read by the wait that follows it. */
  readonly #claimSeen = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(options: RedisStoreOptions) {
    this.#options = options;
    this.#redis = options.client;
    this.#observer = options.observer ?? {};
    this.#scripts = new ScriptRunner(options);
    this.#scripts.define(SCRIPT_NAMES.map((name) => [name, scriptSource(name)]));
    this.#wake = new WakeBoard(options.subscriber, `${options.prefix}wake`);
    this.#scheduleSweep();
  }

  /** Subscribes for wake-ups; the store works without it, but polls then only wake every few seconds. */
  start(): Promise<void> {
    return this.#wake.start();
  }

  #run(op: ScriptName, now: number, ...args: (string | number)[]): Promise<Reply> {
    return this.#scripts.run(op, now, ...args);
  }

  async registerNode(
    input: { publicKey: string; capabilities: Capabilities; leaseSeconds: number; credentialDigest: string },
    now: number,
  ): Promise<RegisterResult> {
    const { publicKey, capabilities, leaseSeconds, credentialDigest } = input;
    const caps = JSON.stringify(capabilities);
    const reply = await this.#run(
      'register',
      now,
      publicKey,
      caps,
      capabilities.max_concurrency,
      leaseSeconds,
      credentialDigest,
      this.#options.maxNodes,
    );
    if (reply.r === 'full') return { ok: false, reason: 'full' };
    return { ok: true, created: reply.r === 'created' };
  }

  async touchNode(
    publicKey: string,
    update: { capabilities?: Capabilities; leaseSeconds: number; pollingUntil: number | undefined },
    now: number,
  ): Promise<boolean> {
    const caps = update.capabilities;
    const reply = await this.#run(
      'touch',
      now,
      publicKey,
      caps === undefined ? '' : JSON.stringify(caps),
      caps === undefined ? '' : caps.max_concurrency,
      update.leaseSeconds,
      update.pollingUntil ?? '',
    );
    return reply.r === 'ok';
  }

  async getNode(publicKey: string): Promise<NodeRecord | undefined> {
    const nodes = await this.#nodes(Date.now());
    return nodes.find((node) => node.publicKey === publicKey);
  }

  listNodes(now: number): Promise<NodeView[]> {
    return this.#nodes(now);
  }

  async #nodes(now: number): Promise<NodeView[]> {
    const reply = await this.#run('nodes', now);
    return nodeViews(reply.nodes);
  }

  async unregisterNode(publicKey: string, ownerDigest: string | undefined, now: number): Promise<UnregisterResult> {
    const reply = await this.#run('unregister', now, publicKey, ownerDigest ?? '', ownerDigest === undefined ? 'evict' : 'owner');
    if (reply.r === 'removed') this.#observer.evicted?.(ownerDigest === undefined ? 'stale_lease' : 'unregistered');
    return reply.r as UnregisterResult;
  }

  async selectNode(criteria: SelectionCriteria, now: number): Promise<Selection> {
    const cursorKey = `${this.#options.prefix}cursor`;
    const [nodes, cursor] = await Promise.all([this.listNodes(now), this.#scripts.plain((redis) => redis.get(cursorKey))]);
    const selection = selectBestFit(nodes, criteria, cursor === null ? -1 : Number(cursor), now);
    // The cursor is only the round-robin tie-break: not waited for, it goes out ahead of the enqueue that follows.
    if (selection.ok)
      this.#scripts.plain((redis) => redis.set(cursorKey, selection.node.order, 'PX', 86_400_000)).catch(() => {});
    return selection;
  }

  async enqueue(work: Work, maxQueueDepth: number, now: number): Promise<EnqueueResult> {
    const reply = await this.#run(
      'enqueue',
      now,
      work.nodeKey,
      work.clientKey,
      work.requestId,
      JSON.stringify(work),
      work.deadline,
      work.cancelToken ?? '',
      maxQueueDepth,
      sizeOf(work.envelope),
      this.#options.maxStoredBytes,
    );
    if (reply.r === 'queued' || reply.r === 'duplicate')
      return { ok: true, deadline: reply.deadline, duplicate: reply.r === 'duplicate' };
    return { ok: false, reason: reply.r as 'unknown_node' | 'queue_full' | 'finished' | 'storage_full' };
  }

  async claim(nodeKey: string, inFlightTtlMs: number, now: number): Promise<ClaimResult> {
    const hash = nodeHash(nodeKey);
    if (!this.#claimSeen.has(hash)) this.#claimSeen.set(hash, this.#wake.generation(hash));
    const reply = await this.#run('claim', now, nodeKey, inFlightTtlMs);
    if (reply.r !== 'none') this.#claimSeen.delete(hash);
    if (reply.r === 'work') {
      const work = JSON.parse(reply.work) as Work;
      return { kind: 'work', work: { ...work, cancelToken: work.cancelToken ?? undefined } };
    }
    return { kind: reply.r === 'unknown_node' ? 'unknown_node' : 'none' };
  }

  async unclaim(work: Work, now: number): Promise<void> {
    await this.#run('unclaim', now, work.nodeKey, work.clientKey, work.requestId);
  }

  waitForWork(nodeKey: string, ms: number, signal: AbortSignal): Promise<void> {
    const hash = nodeHash(nodeKey);
    const seen = this.#claimSeen.get(hash);
    this.#claimSeen.delete(hash);
    if (this.#closed) return Promise.resolve();
    // A wake-up lost with a dropped subscriber connection costs at most one slice.
    return this.#wake.wait(hash, seen, Math.min(ms, NODE_POLL_SLICE_MS), signal);
  }

  wakeAll(): void {
    this.#wake.wakeAll();
  }

  /** Nodes with a poll held on this replica, for tests. */
  heldPollNodes(): number {
    return this.#wake.waiting;
  }

  async control(
    nodeKey: string,
    requestId: string,
    ownerDigest: string,
    acknowledge: boolean,
    inFlightTtlMs: number,
    now: number,
  ): Promise<ControlResult> {
    const reply = await this.#run('control', now, nodeKey, requestId, ownerDigest, acknowledge ? '1' : '', inFlightTtlMs);
    if (reply.r === 'active') return { kind: 'active', deadline: reply.deadline };
    if (reply.r === 'terminal') return { kind: 'terminal', status: reply.status, deadline: reply.deadline ?? undefined };
    return { kind: reply.r as 'forbidden' | 'unavailable' };
  }

  async storeProgress(
    nodeKey: string,
    ownerDigest: string,
    clientKey: string,
    requestId: string,
    envelope: Json,
    now: number,
  ): Promise<ProgressResult> {
    const reply = await this.#run('progress', now, nodeKey, ownerDigest, clientKey, requestId, JSON.stringify(envelope));
    return reply.r as ProgressResult;
  }

  async storeResponse(envelope: Envelope, now: number): Promise<ResponseResult> {
    const reply = await this.#run(
      'response',
      now,
      envelope.client_public_key,
      envelope.request_id,
      JSON.stringify(envelope),
      sizeOf(envelope),
    );
    if (reply.r === 'gone') return { kind: 'gone', status: reply.status };
    return { kind: reply.r as 'stored' | 'duplicate' };
  }

  async cancel(clientKey: string, requestId: string, proof: unknown, status: TerminalStatus, reason: string, now: number) {
    const reply = await this.#run('cancel', now, clientKey, requestId, typeof proof === 'string' ? proof : '', status, reason);
    return reply.r === 'cancelled'
      ? { kind: 'cancelled' as const, removedFromQueue: Number(reply.removed) }
      : { kind: 'forbidden' as const };
  }

  async retrieve(clientKey: string, requestId: string | undefined, now: number): Promise<RetrieveResult> {
    const reply = await this.#run('retrieve', now, clientKey, requestId ?? '', requestId === undefined ? 'any' : 'one');
    if (reply.r === 'response') return { kind: 'response', envelope: JSON.parse(reply.envelope) as Envelope };
    if (reply.r === 'terminal') return { kind: 'terminal', status: reply.status, reason: reply.reason };
    if (reply.r === 'pending') {
      return {
        kind: 'pending',
        deadline: reply.deadline,
        progress: reply.progress === undefined ? undefined : (JSON.parse(reply.progress) as Json),
      };
    }
    return { kind: 'unknown' };
  }

  async outstanding(): Promise<number> {
    const reply = await this.#run('outstanding', Date.now());
    return Number(reply.count);
  }

  async sweep(now: number): Promise<void> {
    const gap = this.#options.sweepMinGapMs ?? 0;
    if (gap > 0 && now >= this.#lastSweep && now - this.#lastSweep < gap) return;
    this.#lastSweep = now;
    const reply = await this.#run('sweep', now);
    for (let i = 0; i < Number(reply.evicted); i++) this.#observer.evicted?.('stale_lease');
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.wakeAll();
    this.#options.subscriber.disconnect();
    this.#redis.disconnect();
  }

  #scheduleSweep(): void {
    if (this.#options.sweepIntervalMs <= 0 || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.sweep(Date.now())
        .catch(() => undefined)
        .finally(() => this.#scheduleSweep());
    }, this.#options.sweepIntervalMs);
    this.#timer.unref();
  }
}
