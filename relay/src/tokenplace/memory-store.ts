/**
 * The embedded store: all protocol state in this process's memory. One replica only; the shared
 * store for several replicas implements the same TokenPlaceStore interface.
 */
import type { Clock } from '../clock.ts';
import type { Capabilities } from './capabilities.ts';
import type { Envelope } from './envelope.ts';
import { activeInFlight, type NodeState, sameDigest } from './memory-node.ts';
import { RequestBook } from './memory-requests.ts';
import { isStale, selectBestFit } from './scheduler.ts';
import type { TokenPlaceConfig } from './settings.ts';
import type {
  NodeRecord,
  NodeView,
  RegisterResult,
  SelectionCriteria,
  StoreObserver,
  TokenPlaceStore,
  UnregisterResult,
  Work,
} from './store.ts';
import { Waiters } from './waiters.ts';
import type { Json, TerminalStatus } from './wire.ts';

export interface MemoryStoreOptions {
  maxNodes: number;
  /** Ciphertext held at most, in characters of its base64 text; enqueue refuses beyond it. */
  maxStoredBytes: number;
  terminalTtlMs: number;
  tombstoneTtlMs: number;
  clock: Clock;
  /** How often deadlines and leases are checked when no request triggers it; 0: only on requests. */
  sweepIntervalMs: number;
  observer?: StoreObserver;
}

/** The embedded store as the relay's settings size it. */
export function memoryStoreFor(config: TokenPlaceConfig, clock: Clock, observer?: StoreObserver): MemoryStore {
  return new MemoryStore({
    maxNodes: config.maxNodes,
    maxStoredBytes: config.maxStoredBytes,
    terminalTtlMs: config.terminalTtlSeconds * 1000,
    tombstoneTtlMs: config.tombstoneTtlSeconds * 1000,
    clock,
    sweepIntervalMs: 1000,
    observer,
  });
}

export class MemoryStore implements TokenPlaceStore {
  readonly #nodes = new Map<string, NodeState>();
  readonly #waiters: Waiters;
  readonly #requests: RequestBook;
  readonly #options: MemoryStoreOptions;
  readonly #observer: StoreObserver;
  #order = 0;
  #cursor = -1;
  #timer: unknown;
  #closed = false;

  constructor(options: MemoryStoreOptions) {
    this.#options = options;
    this.#observer = options.observer ?? {};
    this.#waiters = new Waiters(options.clock);
    this.#requests = new RequestBook(this.#nodes, {
      terminalTtlMs: options.terminalTtlMs,
      maxStoredBytes: options.maxStoredBytes,
      tombstoneTtlMs: options.tombstoneTtlMs,
      observer: this.#observer,
      notify: (nodeKey) => this.#notify(nodeKey),
    });
    this.#scheduleSweep();
  }

  async registerNode(
    input: { publicKey: string; capabilities: Capabilities; leaseSeconds: number; credentialDigest: string },
    now: number,
  ): Promise<RegisterResult> {
    const existing = this.#nodes.get(input.publicKey);
    if (existing !== undefined) {
      Object.assign(existing.record, { lastSeenAt: now, capabilities: input.capabilities, leaseSeconds: input.leaseSeconds });
      this.#notify(input.publicKey);
      return { ok: true, created: false };
    }
    if (this.#nodes.size >= this.#options.maxNodes) return { ok: false, reason: 'full' };
    const record: NodeRecord = {
      publicKey: input.publicKey,
      capabilities: input.capabilities,
      credentialDigest: input.credentialDigest,
      order: this.#order++,
      registeredAt: now,
      lastSeenAt: now,
      leaseSeconds: input.leaseSeconds,
      pollingUntil: undefined,
    };
    this.#nodes.set(input.publicKey, { record, queue: [], inFlight: new Map() });
    return { ok: true, created: true };
  }

  async touchNode(
    publicKey: string,
    update: { capabilities?: Capabilities; leaseSeconds: number; pollingUntil: number | undefined },
    now: number,
  ): Promise<boolean> {
    const node = this.#nodes.get(publicKey);
    if (node === undefined) return false;
    node.record.lastSeenAt = now;
    node.record.leaseSeconds = update.leaseSeconds;
    node.record.pollingUntil = update.pollingUntil;
    if (update.capabilities !== undefined) node.record.capabilities = update.capabilities;
    return true;
  }

  async getNode(publicKey: string): Promise<NodeRecord | undefined> {
    return this.#nodes.get(publicKey)?.record;
  }

  async listNodes(now: number): Promise<NodeView[]> {
    return [...this.#nodes.values()].map((node) => this.#view(node, now));
  }

  async unregisterNode(publicKey: string, ownerDigest: string | undefined, now: number): Promise<UnregisterResult> {
    return this.#unregister(publicKey, ownerDigest, now);
  }

  async selectNode(criteria: SelectionCriteria, now: number) {
    const selection = selectBestFit(await this.listNodes(now), criteria, this.#cursor, now);
    if (selection.ok) this.#cursor = selection.node.order;
    return selection;
  }

  async enqueue(work: Work, maxQueueDepth: number) {
    return this.#requests.enqueue(work, maxQueueDepth);
  }

  async claim(nodeKey: string, inFlightTtlMs: number, now: number) {
    return this.#requests.claim(nodeKey, inFlightTtlMs, now);
  }

  async unclaim(work: Work) {
    this.#requests.unclaim(work);
  }

  waitForWork(nodeKey: string, ms: number, signal: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#waiters.wait(nodeKey, ms, signal);
  }

  wakeAll(): void {
    this.#waiters.wakeAll();
  }

  async control(
    nodeKey: string,
    requestId: string,
    ownerDigest: string,
    acknowledge: boolean,
    inFlightTtlMs: number,
    now: number,
  ) {
    return this.#requests.control(nodeKey, requestId, ownerDigest, acknowledge, inFlightTtlMs, now);
  }

  async storeProgress(nodeKey: string, ownerDigest: string, clientKey: string, requestId: string, envelope: Json, now: number) {
    return this.#requests.storeProgress(nodeKey, ownerDigest, clientKey, requestId, envelope, now);
  }

  async storeResponse(envelope: Envelope, now: number) {
    return this.#requests.storeResponse(envelope, now);
  }

  async cancel(clientKey: string, requestId: string, proof: unknown, status: TerminalStatus, reason: string, now: number) {
    return this.#requests.cancel(clientKey, requestId, proof, status, reason, now);
  }

  async retrieve(clientKey: string, requestId: string | undefined, now: number) {
    return this.#requests.retrieve(clientKey, requestId, now);
  }

  async outstanding(): Promise<number> {
    const { live, responses } = this.#requests.counts();
    return live + responses;
  }

  async sweep(now: number): Promise<void> {
    this.#requests.sweep(now);
    for (const node of [...this.#nodes.values()]) {
      if (activeInFlight(node, now) > 0 || !isStale(this.#view(node, now), now)) continue;
      this.#unregister(node.record.publicKey, undefined, now);
    }
  }

  close(): void {
    this.#closed = true;
    this.#options.clock.clearTimeout(this.#timer);
    this.wakeAll();
  }

  /** How much is held, for tests and diagnostics. */
  sizes() {
    return { nodes: this.#nodes.size, waiters: this.#waiters.size, ...this.#requests.counts() };
  }

  #unregister(publicKey: string, ownerDigest: string | undefined, now: number): UnregisterResult {
    const node = this.#nodes.get(publicKey);
    if (node === undefined) return 'absent';
    if (ownerDigest !== undefined && !sameDigest(ownerDigest, node.record.credentialDigest)) return 'forbidden';
    this.#requests.dropNode(node, now);
    this.#nodes.delete(publicKey);
    this.#notify(publicKey);
    this.#observer.evicted?.(ownerDigest === undefined ? 'stale_lease' : 'unregistered');
    return 'removed';
  }

  #view(node: NodeState, now: number): NodeView {
    return { ...node.record, queueDepth: node.queue.length, inFlight: activeInFlight(node, now) };
  }

  #notify(nodeKey: string): void {
    this.#waiters.notify(nodeKey);
  }

  #scheduleSweep(): void {
    const { sweepIntervalMs, clock } = this.#options;
    if (sweepIntervalMs <= 0 || this.#closed) return;
    this.#timer = clock.setTimeout(() => {
      void this.sweep(clock.now()).finally(() => this.#scheduleSweep());
    }, sweepIntervalMs);
    // Where timers can be detached (Node), the sweep alone never keeps the process running.
    (this.#timer as { unref?: () => void } | undefined)?.unref?.();
  }
}
