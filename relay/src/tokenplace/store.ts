/**
 * The relay's protocol state behind one interface of atomic transitions, so that a shared store
 * (Valkey/Redis, several replicas) can replace the in-memory one without changing a route. Every
 * method is one transition: it reads and changes state as a unit, and takes the wall-clock time
 * (milliseconds) from the caller so that all replicas agree on leases and deadlines.
 */
import type { Capabilities } from './capabilities.ts';
import type { Envelope } from './envelope.ts';
import type { Json, TerminalStatus } from './wire.ts';

export interface NodeRecord {
  publicKey: string;
  capabilities: Capabilities;
  /** SHA-256 (hex) of the control credential handed out at first registration; the credential itself is never kept. */
  credentialDigest: string;
  /** Registration order, the round-robin tie-break. */
  order: number;
  registeredAt: number;
  lastSeenAt: number;
  leaseSeconds: number;
  /** Set while a long poll of this node is held. */
  pollingUntil: number | undefined;
}

export interface NodeView extends NodeRecord {
  queueDepth: number;
  /** Dispatched requests whose accounting lease is still running. */
  inFlight: number;
}

/** A client's encrypted request waiting for, or dispatched to, one node. */
export interface Work {
  clientKey: string;
  requestId: string;
  nodeKey: string;
  envelope: Envelope;
  cancelToken: string | undefined;
  deadline: number;
  queuedAt: number;
}

export interface SelectionCriteria {
  model: string;
  contextTier: string;
  maxQueueDepth: number;
}

export type Selection =
  | { ok: true; node: NodeView; eligible: NodeView[]; spillover: boolean }
  | { ok: false; reason: 'no_nodes' | 'no_match' | 'no_capacity'; eligible: NodeView[]; capacityLimited: NodeView[] };

export type RegisterResult = { ok: true; created: boolean } | { ok: false; reason: 'full' };
export type EnqueueResult =
  | { ok: true; deadline: number; duplicate: boolean }
  | { ok: false; reason: 'unknown_node' | 'queue_full' | 'finished' | 'storage_full' };
export type ClaimResult = { kind: 'work'; work: Work } | { kind: 'none' } | { kind: 'unknown_node' };
export type ControlResult =
  | { kind: 'forbidden' }
  | { kind: 'active'; deadline: number }
  | { kind: 'terminal'; status: TerminalStatus; deadline: number | undefined }
  | { kind: 'unavailable' };
export type ResponseResult = { kind: 'stored' } | { kind: 'duplicate' } | { kind: 'gone'; status: string };
export type ProgressResult = 'accepted' | 'replaced' | 'forbidden' | 'inactive' | 'expired';
export type CancelResult = { kind: 'forbidden' } | { kind: 'cancelled'; removedFromQueue: number };
export type RetrieveResult =
  | { kind: 'response'; envelope: Envelope }
  | { kind: 'terminal'; status: TerminalStatus; reason: string }
  | { kind: 'pending'; deadline: number; progress: Json | undefined }
  | { kind: 'unknown' };
export type UnregisterResult = 'removed' | 'absent' | 'forbidden';

/** Counts and latest events a store reports for metrics and logs. */
export interface StoreObserver {
  terminal?(status: TerminalStatus | 'completed', reason: string): void;
  evicted?(reason: 'stale_lease' | 'unregistered'): void;
}

export interface TokenPlaceStore {
  registerNode(
    input: { publicKey: string; capabilities: Capabilities; leaseSeconds: number; credentialDigest: string },
    now: number,
  ): Promise<RegisterResult>;
  /** A poll's heartbeat: renews the lease, replaces capabilities when given, marks the node polling until pollingUntil. */
  touchNode(
    publicKey: string,
    update: { capabilities?: Capabilities; leaseSeconds: number; pollingUntil: number | undefined },
    now: number,
  ): Promise<boolean>;
  getNode(publicKey: string): Promise<NodeRecord | undefined>;
  listNodes(now: number): Promise<NodeView[]>;
  /** ownerDigest undefined skips the ownership check (eviction). */
  unregisterNode(publicKey: string, ownerDigest: string | undefined, now: number): Promise<UnregisterResult>;
  selectNode(criteria: SelectionCriteria, now: number): Promise<Selection>;

  enqueue(work: Work, maxQueueDepth: number, now: number): Promise<EnqueueResult>;
  /** Moves the oldest dispatchable request of the node to in flight, unless the node is at its max_concurrency. */
  claim(nodeKey: string, inFlightTtlMs: number, now: number): Promise<ClaimResult>;
  /** Puts a claimed request back at the head of its queue (the poll that claimed it could not deliver it). */
  unclaim(work: Work, now: number): Promise<void>;
  /** Resolves when work for the node may have arrived or capacity freed, after ms, or when signal aborts. */
  waitForWork(nodeKey: string, ms: number, signal: AbortSignal): Promise<void>;
  /** Wakes every waiting poll (shutdown). */
  wakeAll(): void;

  control(
    nodeKey: string,
    requestId: string,
    ownerDigest: string,
    acknowledge: boolean,
    inFlightTtlMs: number,
    now: number,
  ): Promise<ControlResult>;
  storeProgress(
    nodeKey: string,
    ownerDigest: string,
    clientKey: string,
    requestId: string,
    envelope: Json,
    now: number,
  ): Promise<ProgressResult>;
  storeResponse(envelope: Envelope, now: number): Promise<ResponseResult>;
  cancel(
    clientKey: string,
    requestId: string,
    cancelToken: unknown,
    status: TerminalStatus,
    reason: string,
    now: number,
  ): Promise<CancelResult>;
  retrieve(clientKey: string, requestId: string | undefined, now: number): Promise<RetrieveResult>;
  /** Requests queued or in flight plus answers not yet retrieved: what a replica must not drop while it shuts down. */
  outstanding(): Promise<number>;
  /** Expires what is due: stale nodes, deadlines, tombstones, terminal records. */
  sweep(now: number): Promise<void>;
  close(): void;
}

/**
 * The shared store cannot be reached (connection down, a command timed out). The protocol routes
 * answer it with 503 and Retry-After; the relay keeps running and recovers when the store returns.
 */
export class StoreUnavailableError extends Error {
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StoreUnavailableError';
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}
