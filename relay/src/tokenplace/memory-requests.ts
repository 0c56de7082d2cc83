/**
 * The request side of the in-memory store: per-node queues and in-flight sets, encrypted
 * responses and progress, terminal records and the tombstones that tell a node to stop. All
 * methods are synchronous, so each runs as one atomic transition on the single JS thread.
 */
import type { Envelope } from './envelope.ts';
import { activeInFlight, type NodeState, sameDigest, sizeOf } from './memory-node.ts';
import type {
  CancelResult,
  ClaimResult,
  ControlResult,
  EnqueueResult,
  ProgressResult,
  ResponseResult,
  RetrieveResult,
  StoreObserver,
  Work,
} from './store.ts';
import type { Json, TerminalStatus } from './wire.ts';

interface Tombstone {
  status: TerminalStatus;
  clientKey: string;
  deadline: number;
  ownerDigest: string;
  expiresAt: number;
}

export interface RequestBookOptions {
  terminalTtlMs: number;
  maxStoredBytes: number;
  tombstoneTtlMs: number;
  observer: StoreObserver;
  /** Capacity changed or work arrived for a node: wake its polls. */
  notify(nodeKey: string): void;
}

const requestKey = (clientKey: string, requestId: string) => `${clientKey}\0${requestId}`;
const tombstoneKey = (nodeKey: string, requestId: string) => `${nodeKey}\0${requestId}`;

export class RequestBook {
  /** Every request queued or in flight, by client and request id. */
  readonly #live = new Map<string, { work: Work; state: 'queued' | 'in_flight' }>();
  /** Size of every envelope held (requests and unretrieved answers), bounding the relay's memory. */
  #storedBytes = 0;
  readonly #responses = new Map<string, { envelope: Envelope; expiresAt: number }>();
  readonly #progress = new Map<string, Json>();
  readonly #terminal = new Map<string, { status: TerminalStatus; reason: string; expiresAt: number }>();
  readonly #completed = new Map<string, number>();
  readonly #tombstones = new Map<string, Tombstone>();
  readonly #nodes: Map<string, NodeState>;
  readonly #options: RequestBookOptions;

  constructor(nodes: Map<string, NodeState>, options: RequestBookOptions) {
    this.#nodes = nodes;
    this.#options = options;
  }

  enqueue(work: Work, maxQueueDepth: number): EnqueueResult {
    const node = this.#nodes.get(work.nodeKey);
    if (node === undefined) return { ok: false, reason: 'unknown_node' };
    const key = requestKey(work.clientKey, work.requestId);
    const live = this.#live.get(key);
    if (live !== undefined) return { ok: true, deadline: live.work.deadline, duplicate: true };
    if (this.#terminal.has(key) || this.#responses.has(key) || this.#completed.has(key)) return { ok: false, reason: 'finished' };
    if (node.queue.length >= maxQueueDepth) return { ok: false, reason: 'queue_full' };
    if (this.#storedBytes + sizeOf(work.envelope) > this.#options.maxStoredBytes) return { ok: false, reason: 'storage_full' };
    this.#storedBytes += sizeOf(work.envelope);
    node.queue.push(work);
    this.#live.set(key, { work, state: 'queued' });
    this.#options.notify(work.nodeKey);
    return { ok: true, deadline: work.deadline, duplicate: false };
  }

  claim(nodeKey: string, inFlightTtlMs: number, now: number): ClaimResult {
    const node = this.#nodes.get(nodeKey);
    if (node === undefined) return { kind: 'unknown_node' };
    for (let i = 0; i < node.queue.length; ) {
      if (activeInFlight(node, now) >= node.record.capabilities.max_concurrency) return { kind: 'none' };
      const work = node.queue[i];
      if (work.deadline <= now) {
        this.terminate(work.clientKey, work.requestId, 'expired', 'provider_timeout', now);
        continue;
      }
      if (node.inFlight.has(work.requestId)) {
        i++;
        continue;
      }
      node.queue.splice(i, 1);
      node.inFlight.set(work.requestId, { work, leaseUntil: Math.min(now + inFlightTtlMs, work.deadline) });
      const live = this.#live.get(requestKey(work.clientKey, work.requestId));
      if (live !== undefined) live.state = 'in_flight';
      return { kind: 'work', work };
    }
    return { kind: 'none' };
  }

  unclaim(work: Work): void {
    const node = this.#nodes.get(work.nodeKey);
    const live = this.#live.get(requestKey(work.clientKey, work.requestId));
    if (node === undefined || live === undefined || node.inFlight.get(work.requestId)?.work !== work) return;
    node.inFlight.delete(work.requestId);
    node.queue.unshift(work);
    live.state = 'queued';
    this.#options.notify(work.nodeKey);
  }

  control(
    nodeKey: string,
    requestId: string,
    ownerDigest: string,
    acknowledge: boolean,
    inFlightTtlMs: number,
    now: number,
  ): ControlResult {
    const node = this.#nodes.get(nodeKey);
    if (node !== undefined) {
      if (!sameDigest(ownerDigest, node.record.credentialDigest)) return { kind: 'forbidden' };
      const entry = node.inFlight.get(requestId);
      if (entry !== undefined) {
        if (entry.work.deadline > now) {
          entry.leaseUntil = Math.min(now + inFlightTtlMs, entry.work.deadline);
          return { kind: 'active', deadline: entry.work.deadline };
        }
        this.terminate(entry.work.clientKey, requestId, 'expired', 'provider_timeout', now);
        const terminal = this.#terminal.get(requestKey(entry.work.clientKey, requestId));
        return { kind: 'terminal', status: terminal?.status ?? 'expired', deadline: entry.work.deadline };
      }
    }
    const key = tombstoneKey(nodeKey, requestId);
    const tombstone = this.#tombstones.get(key);
    if (tombstone !== undefined && tombstone.expiresAt > now) {
      if (!sameDigest(ownerDigest, tombstone.ownerDigest)) return { kind: 'forbidden' };
      if (acknowledge) this.#tombstones.delete(key);
      return { kind: 'terminal', status: tombstone.status, deadline: tombstone.deadline };
    }
    return node === undefined ? { kind: 'forbidden' } : { kind: 'unavailable' };
  }

  storeProgress(
    nodeKey: string,
    ownerDigest: string,
    clientKey: string,
    requestId: string,
    envelope: Json,
    now: number,
  ): ProgressResult {
    const node = this.#nodes.get(nodeKey);
    if (node === undefined || !sameDigest(ownerDigest, node.record.credentialDigest)) return 'forbidden';
    const entry = node.inFlight.get(requestId);
    if (entry === undefined || entry.work.clientKey !== clientKey) return 'inactive';
    if (entry.work.deadline <= now) return 'expired';
    const key = requestKey(clientKey, requestId);
    const replaced = this.#progress.has(key);
    this.#progress.set(key, envelope);
    return replaced ? 'replaced' : 'accepted';
  }

  storeResponse(envelope: Envelope, now: number): ResponseResult {
    const { client_public_key: clientKey, request_id: requestId } = envelope;
    const key = requestKey(clientKey, requestId);
    const terminal = this.#terminal.get(key);
    if (terminal !== undefined) return { kind: 'gone', status: terminal.status };
    if (this.#responses.has(key)) return { kind: 'duplicate' };
    const live = this.#live.get(key);
    if (live !== undefined && live.work.deadline <= now) {
      this.terminate(clientKey, requestId, 'expired', 'pending_request_ttl_exceeded', now);
      return { kind: 'gone', status: 'expired' };
    }
    if (live === undefined) return { kind: 'gone', status: this.#completed.has(key) ? 'completed' : 'gone' };
    this.#detach(live.work);
    this.#progress.delete(key);
    this.#completed.set(key, now + this.#options.terminalTtlMs);
    this.#responses.set(key, { envelope, expiresAt: now + this.#options.terminalTtlMs });
    this.#storedBytes += sizeOf(envelope);
    this.#options.observer.terminal?.('completed', 'completed');
    return { kind: 'stored' };
  }

  /** The client's cancel, proven with the cancel_token it sent with the request. */
  cancel(
    clientKey: string,
    requestId: string,
    proof: unknown,
    status: TerminalStatus,
    reason: string,
    now: number,
  ): CancelResult {
    const live = this.#live.get(requestKey(clientKey, requestId));
    const expected = live?.work.cancelToken;
    if (expected === undefined || typeof proof !== 'string' || !sameDigest(proof, expected)) return { kind: 'forbidden' };
    return { kind: 'cancelled', removedFromQueue: this.terminate(clientKey, requestId, status, reason, now) };
  }

  /** Ends a live request as cancelled or expired; returns 1 when it was still queued. */
  terminate(clientKey: string, requestId: string, status: TerminalStatus, reason: string, now: number): number {
    const key = requestKey(clientKey, requestId);
    this.#progress.delete(key);
    const live = this.#live.get(key);
    if (live === undefined) return 0;
    const wasQueued = live.state === 'queued';
    const node = this.#nodes.get(live.work.nodeKey);
    this.#detach(live.work);
    if (!wasQueued && node !== undefined) {
      this.#tombstones.set(tombstoneKey(live.work.nodeKey, requestId), {
        status,
        clientKey,
        deadline: live.work.deadline,
        ownerDigest: node.record.credentialDigest,
        expiresAt: now + this.#options.tombstoneTtlMs,
      });
    }
    if (!this.#terminal.has(key)) {
      this.#terminal.set(key, { status, reason, expiresAt: now + this.#options.terminalTtlMs });
      this.#options.observer.terminal?.(status, reason);
    }
    return wasQueued ? 1 : 0;
  }

  retrieve(clientKey: string, requestId: string | undefined, now: number): RetrieveResult {
    if (requestId === undefined) {
      for (const [key, stored] of this.#responses) {
        if (stored.envelope.client_public_key !== clientKey) continue;
        this.#dropResponse(key);
        return { kind: 'response', envelope: stored.envelope };
      }
      return { kind: 'unknown' };
    }
    const key = requestKey(clientKey, requestId);
    const terminal = this.#terminal.get(key);
    if (terminal !== undefined) {
      this.#dropResponse(key);
      return { kind: 'terminal', status: terminal.status, reason: terminal.reason };
    }
    const stored = this.#responses.get(key);
    if (stored !== undefined) {
      this.#dropResponse(key);
      return { kind: 'response', envelope: stored.envelope };
    }
    const live = this.#live.get(key);
    if (live === undefined) return { kind: 'unknown' };
    if (live.work.deadline <= now) {
      this.terminate(clientKey, requestId, 'expired', 'pending_request_ttl_exceeded', now);
      return { kind: 'terminal', status: 'expired', reason: 'pending_request_ttl_exceeded' };
    }
    const progress = this.#progress.get(key);
    this.#progress.delete(key);
    return { kind: 'pending', deadline: live.work.deadline, progress };
  }

  /** A node left: its queued requests are cancelled, its in-flight ones tombstoned and cancelled. */
  dropNode(state: NodeState, now: number): void {
    for (const work of [...state.queue, ...[...state.inFlight.values()].map((entry) => entry.work)]) {
      this.terminate(work.clientKey, work.requestId, 'cancelled', 'server_unregistered', now);
    }
  }

  sweep(now: number): void {
    for (const { work } of [...this.#live.values()]) {
      if (work.deadline <= now) this.terminate(work.clientKey, work.requestId, 'expired', 'pending_request_ttl_exceeded', now);
    }
    for (const [key, entry] of this.#terminal) if (entry.expiresAt <= now) this.#terminal.delete(key);
    for (const [key, expiresAt] of this.#completed) if (expiresAt <= now) this.#completed.delete(key);
    for (const [key, entry] of this.#responses) if (entry.expiresAt <= now) this.#dropResponse(key);
    for (const [key, entry] of this.#tombstones) if (entry.expiresAt <= now) this.#tombstones.delete(key);
  }

  counts(): { live: number; responses: number; terminal: number; tombstones: number; storedBytes: number } {
    return {
      live: this.#live.size,
      responses: this.#responses.size,
      terminal: this.#terminal.size,
      tombstones: this.#tombstones.size,
      storedBytes: this.#storedBytes,
    };
  }

  #dropResponse(key: string): void {
    const stored = this.#responses.get(key);
    if (stored === undefined) return;
    this.#responses.delete(key);
    this.#storedBytes -= sizeOf(stored.envelope);
  }

  /** Removes a live request from its node's queue or in-flight set and frees its capacity. */
  #detach(work: Work): void {
    if (!this.#live.delete(requestKey(work.clientKey, work.requestId))) return;
    this.#storedBytes -= sizeOf(work.envelope);
    const node = this.#nodes.get(work.nodeKey);
    if (node === undefined) return;
    const index = node.queue.indexOf(work);
    if (index !== -1) node.queue.splice(index, 1);
    if (node.inFlight.get(work.requestId)?.work === work) node.inFlight.delete(work.requestId);
    this.#options.notify(work.nodeKey);
  }
}
