/**
 * The upstream pool: the static upstream (always a member) plus registered compute nodes.
 * Picks the healthy member with the lowest load relative to its capacity, counts requests in
 * flight per member, and ejects a member for a back-off period after consecutive connect
 * failures (passive health). Selection is a scan of a handful of members with no allocation.
 */
import type { Clock } from './clock.ts';
import { publicUpstream } from './config.ts';
import type { RegisteredServer } from './registry.ts';

export const STATIC_MEMBER_ID = 'static';
/** Ejection periods double per ejection in a row up to this, or the first period if that is longer. */
const MAX_BACKOFF_MS = 60_000;

export class PoolMember {
  readonly id: string;
  readonly isStatic: boolean;
  name: string;
  url: URL;
  /** Origin and path, no credentials: for logs, metrics and the listing. */
  publicUrl: string;
  /** Configured limit, 0 for none. */
  maxConcurrency: number;
  /** maxConcurrency, or Infinity when there is none. */
  capacity: number;
  inFlight = 0;
  /** Of inFlight: slots whose client has gone while the GPU host still works on the request. */
  orphaned = 0;
  /** Lease end (wall clock); Infinity for the static upstream. */
  expiresAt: number;
  consecutiveFailures = 0;
  /** Ejections in a row without a success in between. */
  ejections = 0;
  /** 0 when not ejected. */
  ejectedUntil = 0;
  /** Address, port and path keys of the GPU host (see member-identity.ts); empty until known. */
  identity: readonly string[] = [];
  /** Left the pool (deleted or lease ended); requests still in flight finish. */
  removed = false;

  constructor(id: string, name: string, url: URL, maxConcurrency: number, expiresAt: number) {
    this.id = id;
    this.isStatic = id === STATIC_MEMBER_ID;
    this.name = name;
    this.url = url;
    this.publicUrl = publicUpstream(url);
    this.maxConcurrency = maxConcurrency;
    this.capacity = maxConcurrency > 0 ? maxConcurrency : Number.POSITIVE_INFINITY;
    this.expiresAt = expiresAt;
  }
}

export interface MemberSnapshot {
  id: string;
  name: string;
  url: string;
  static: boolean;
  maxConcurrency: number | null;
  inFlight: number;
  state: 'healthy' | 'ejected';
  consecutiveFailures: number;
  /** Present while ejected. */
  ejectedForSeconds?: number;
  /** Absent for the static upstream. */
  leaseExpiresInSeconds?: number;
}

export interface PoolOptions {
  /** The configured upstream, always a member; absent when forwarding is off. */
  staticUrl: URL | undefined;
  /** Default limit per member; 0 for none. */
  maxConcurrency: number;
  ejectAfterFailures: number;
  ejectBackoffMs: number;
  clock: Clock;
  /** Told about each ejection, for the log and metrics. */
  onEject?: (member: PoolMember, backoffMs: number) => void;
}

export class UpstreamPool {
  readonly #members: PoolMember[];
  readonly #options: PoolOptions;
  #cursor = 0;
  readonly static: PoolMember | undefined;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.static =
      options.staticUrl === undefined
        ? undefined
        : new PoolMember(
            STATIC_MEMBER_ID,
            'static upstream',
            options.staticUrl,
            options.maxConcurrency,
            Number.POSITIVE_INFINITY,
          );
    this.#members = this.static === undefined ? [] : [this.static];
  }

  get size(): number {
    return this.#members.length;
  }

  /**
   * Takes a slot on the member with the lowest in-flight load relative to its capacity (ties
   * take turns), or returns undefined when every usable member is at capacity. Ejected members are skipped while any member is not ejected; when
   * all are ejected they are used anyway (a pool never refuses only on passive health).
   */
  acquire(exclude?: PoolMember): PoolMember | undefined {
    const members = this.#members;
    const count = members.length;
    let best: PoolMember | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    let now = -1;
    let anyUsable = false;
    let expired = false;
    // The scan starts one member further each time, so equally loaded members take turns.
    const start = this.#cursor < count ? this.#cursor : 0;
    this.#cursor = start + 1;
    for (let i = 0; i < count; i++) {
      const index = start + i;
      const member = members[index < count ? index : index - count];
      if (member.expiresAt !== Number.POSITIVE_INFINITY || member.ejectedUntil !== 0) {
        if (now < 0) now = this.#options.clock.now();
        if (member.expiresAt <= now) {
          expired = true;
          continue;
        }
        if (member.ejectedUntil > now) continue;
      }
      anyUsable = true;
      if (member === exclude || member.inFlight >= member.capacity) continue;
      const load = member.capacity === Number.POSITIVE_INFINITY ? 0 : member.inFlight / member.capacity;
      if (load < bestLoad) {
        best = member;
        bestLoad = load;
      }
    }
    if (expired) this.#dropExpired(now);
    if (best === undefined && !anyUsable) best = this.#panicPick(exclude);
    if (best !== undefined) best.inFlight++;
    return best;
  }

  /** Every member is ejected: the one with a free slot whose back-off ends first. */
  #panicPick(exclude: PoolMember | undefined): PoolMember | undefined {
    let best: PoolMember | undefined;
    for (const member of this.#members) {
      if (member === exclude || member.inFlight >= member.capacity) continue;
      if (best === undefined || member.ejectedUntil < best.ejectedUntil) best = member;
    }
    return best;
  }

  /**
   * The members acquire would choose from, each with a free slot here, starting one further each
   * time (so equal loads take turns), without taking a slot: for a budget shared with other
   * replicas, where the shared store picks among them (slots.ts). Ejected members only when all are.
   */
  candidates(exclude?: PoolMember): PoolMember[] {
    const now = this.#options.clock.now();
    const count = this.#members.length;
    const start = this.#cursor < count ? this.#cursor : 0;
    this.#cursor = start + 1;
    const rotated = [...this.#members.slice(start), ...this.#members.slice(0, start)].filter((m) => m.expiresAt > now);
    if (rotated.length < count) this.#dropExpired(now);
    const healthy = rotated.filter((member) => member.ejectedUntil <= now);
    const usable = healthy.length > 0 ? healthy : rotated.sort((a, b) => a.ejectedUntil - b.ejectedUntil);
    return usable.filter((member) => member !== exclude && member.inFlight < member.capacity);
  }

  /** Counts a slot on a member the shared store granted. */
  take(member: PoolMember): PoolMember {
    member.inFlight++;
    return member;
  }

  /** Takes a slot on this very member if it is still in the pool and has one free. */
  acquireOn(member: PoolMember): PoolMember | undefined {
    if (member.removed || member.inFlight >= member.capacity) return undefined;
    member.inFlight++;
    return member;
  }

  release(member: PoolMember): void {
    member.inFlight--;
  }

  /** The member answered (response headers arrived): it is healthy again. */
  succeeded(member: PoolMember): void {
    if (member.consecutiveFailures !== 0 || member.ejectedUntil !== 0) {
      member.consecutiveFailures = 0;
      member.ejections = 0;
      member.ejectedUntil = 0;
    }
  }

  /** The member failed before answering: refused, unreachable, connect timeout, TLS handshake failed, or reset. */
  connectFailed(member: PoolMember): void {
    member.consecutiveFailures++;
    if (member.consecutiveFailures < this.#options.ejectAfterFailures || member.removed) return;
    const now = this.#options.clock.now();
    if (member.ejectedUntil > now) return;
    const base = this.#options.ejectBackoffMs;
    const backoff = Math.min(base * 2 ** Math.min(member.ejections, 16), Math.max(MAX_BACKOFF_MS, base));
    member.ejections++;
    member.ejectedUntil = now + backoff;
    this.#options.onEject?.(member, backoff);
  }

  /** Adds a registered node, or updates the member it already is. */
  upsert(server: RegisteredServer): PoolMember {
    const maxConcurrency = server.maxConcurrency;
    const existing = this.#members.find((member) => member.id === server.id);
    if (existing) {
      existing.name = server.name;
      existing.maxConcurrency = maxConcurrency;
      existing.capacity = maxConcurrency > 0 ? maxConcurrency : Number.POSITIVE_INFINITY;
      existing.expiresAt = server.expiresAt;
      if (existing.publicUrl !== server.url) {
        existing.url = new URL(server.url);
        existing.publicUrl = publicUpstream(existing.url);
      }
      return existing;
    }
    const member = new PoolMember(server.id, server.name, new URL(server.url), maxConcurrency, server.expiresAt);
    this.#members.push(member);
    return member;
  }

  remove(id: string): boolean {
    const index = this.#members.findIndex((member) => member.id === id && !member.isStatic);
    if (index === -1) return false;
    this.#members[index].removed = true;
    this.#members.splice(index, 1);
    return true;
  }

  /** Makes the registered members exactly the given servers (for a registry shared with other replicas). */
  sync(servers: readonly RegisteredServer[]): void {
    const ids = new Set(servers.map((server) => server.id));
    for (const member of [...this.#members]) if (!member.isStatic && !ids.has(member.id)) this.remove(member.id);
    for (const server of servers) this.upsert(server);
  }

  #dropExpired(now: number): void {
    for (const member of [...this.#members]) if (member.expiresAt <= now) this.remove(member.id);
  }

  members(): readonly PoolMember[] {
    return this.#members;
  }

  snapshot(): MemberSnapshot[] {
    const now = this.#options.clock.now();
    this.#dropExpired(now);
    return this.#members.map((member) => {
      const ejected = member.ejectedUntil > now;
      return {
        id: member.id,
        name: member.name,
        url: member.publicUrl,
        static: member.isStatic,
        maxConcurrency: member.maxConcurrency > 0 ? member.maxConcurrency : null,
        inFlight: member.inFlight,
        state: ejected ? 'ejected' : 'healthy',
        consecutiveFailures: member.consecutiveFailures,
        ...(ejected ? { ejectedForSeconds: Math.ceil((member.ejectedUntil - now) / 1000) } : {}),
        ...(member.isStatic ? {} : { leaseExpiresInSeconds: Math.max(0, Math.ceil((member.expiresAt - now) / 1000)) }),
      };
    });
  }
}
