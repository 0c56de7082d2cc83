/** A node as the in-memory store holds it, and the small checks on it both halves of the store use. */
import type { Envelope } from './envelope.ts';
import type { NodeRecord, Work } from './store.ts';

export interface InFlight {
  work: Work;
  leaseUntil: number;
}

export interface NodeState {
  record: NodeRecord;
  queue: Work[];
  /** By request id: a node never holds two requests with the same id at once. */
  inFlight: Map<string, InFlight>;
}

/** Two secrets (digests, tokens) compared without an early exit; only a length mismatch answers at once. */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

export function activeInFlight(state: NodeState, now: number): number {
  let count = 0;
  for (const entry of state.inFlight.values()) if (entry.leaseUntil > now) count++;
  return count;
}

/** What an envelope costs to hold: its ciphertext fields dominate, everything else is bounded. */
export function sizeOf(envelope: Envelope): number {
  return envelope.ciphertext.length + envelope.cipherkey.length + envelope.iv.length + envelope.client_public_key.length + 256;
}
