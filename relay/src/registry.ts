/**
 * Where registered compute nodes are kept. The relay talks to the registry only through
 * ServerRegistry, so a shared store (Redis/Valkey) can replace the in-memory one when several
 * replicas must see the same nodes; until then registration is per replica.
 *
 * Times are wall-clock milliseconds (a shared store needs a clock every replica agrees on).
 */

export interface RegisteredServer {
  id: string;
  /** Normalized base URL (checked against TOKENPLACE_RELAY_ALLOWED_UPSTREAMS before it gets here). */
  url: string;
  name: string;
  /** Requests in flight at most; 0 means no limit. */
  maxConcurrency: number;
  /** When the lease ends unless renewed. */
  expiresAt: number;
}

export interface Registration {
  url: string;
  name: string;
  maxConcurrency: number;
}

export type RegisterResult =
  | { ok: true; server: RegisteredServer; created: boolean }
  | { ok: false; reason: 'full'; limit: number };

export interface ServerRegistry {
  /** Adds a node, or renews the lease of (and updates) the node already registered at the same URL. */
  register(registration: Registration, now: number): Promise<RegisterResult>;
  /** Resolves false when no node has this id. */
  remove(id: string): Promise<boolean>;
  /** The nodes whose lease has not ended at `now`. */
  list(now: number): Promise<RegisteredServer[]>;
}

/** How many nodes one relay keeps at most, so a leaked token cannot grow memory without bound. */
export const MAX_REGISTERED_SERVERS = 64;

export class InMemoryRegistry implements ServerRegistry {
  readonly #byId = new Map<string, RegisteredServer>();
  readonly #leaseMs: number;
  readonly #generateId: () => string;

  constructor(leaseSeconds: number, generateId: () => string = () => crypto.randomUUID()) {
    this.#leaseMs = leaseSeconds * 1000;
    this.#generateId = generateId;
  }

  #prune(now: number): void {
    for (const [id, server] of this.#byId) if (server.expiresAt <= now) this.#byId.delete(id);
  }

  async register(registration: Registration, now: number): Promise<RegisterResult> {
    this.#prune(now);
    const expiresAt = now + this.#leaseMs;
    for (const server of this.#byId.values()) {
      if (server.url === registration.url) {
        const renewed = { ...server, name: registration.name, maxConcurrency: registration.maxConcurrency, expiresAt };
        this.#byId.set(server.id, renewed);
        return { ok: true, server: renewed, created: false };
      }
    }
    if (this.#byId.size >= MAX_REGISTERED_SERVERS) return { ok: false, reason: 'full', limit: MAX_REGISTERED_SERVERS };
    const server = { id: this.#generateId(), ...registration, expiresAt };
    this.#byId.set(server.id, server);
    return { ok: true, server, created: true };
  }

  async remove(id: string): Promise<boolean> {
    return this.#byId.delete(id);
  }

  async list(now: number): Promise<RegisteredServer[]> {
    this.#prune(now);
    return [...this.#byId.values()];
  }
}
