/** One scripted HTTP exchange, sent the same way to each relay. */
export interface Step {
  /** Unique; the allowlist and docs/tokenplace-protocol.md refer to steps by this name. */
  name: string;
  method: 'GET' | 'POST' | 'OPTIONS';
  path: string;
  /** X-Relay-Server-Token: `true` sends the configured token, a string sends that string, absent sends none. */
  token?: true | string;
  /** A JSON body (sent as application/json), or a function building it from what earlier steps were answered. */
  json?: unknown;
  /** A body sent as is, with this content type. */
  raw?: { body: string; contentType: string };
  headers?: Record<string, string>;
  /** Response headers whose values must be equal too (access-control-allow-origin is always compared). */
  compareHeaders?: string[];
  /** Remembers something from this step's JSON answer (a node's control credential) for later steps. */
  remember?: (memory: Memory, answer: unknown) => void;
}

/** What one run of the script has learned from one relay's answers; each relay gets its own. */
export interface Memory {
  credentials: Map<string, string>;
}

export type BodyBuilder = (memory: Memory) => unknown;

export function isBodyBuilder(json: unknown): json is BodyBuilder {
  return typeof json === 'function';
}
