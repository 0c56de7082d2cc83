/**
 * Constants and JSON bodies of token.place's relay API v1, shaped exactly as its relay.py sends
 * them: `{"error": {"message", "code"}}` with a numeric or symbolic code depending on the route.
 */
import { jsonResponse, type ResponseClass } from '../responses.ts';

export const PROTOCOL = 'tokenplace_api_v1_relay_e2ee';
export const SELECTION_POLICY = 'best_fit_smallest_capable_least_loaded_v1';
export const DEFAULT_MODEL = 'qwen3-8b-instruct';
export const DEFAULT_CONTEXT_TIER = '8k-fast';
export const CONTEXT_TIER_TOKENS: Readonly<Record<string, number>> = { '8k-fast': 8192, '64k-full': 65536 };
/** Model names token.place clients may send that its model catalogue maps to the served model. */
export const MODEL_ALIASES: Readonly<Record<string, string>> = {
  'llama-3.1-8b-instruct': DEFAULT_MODEL,
  'llama-3-8b-instruct': DEFAULT_MODEL,
  'gpt-3.5-turbo': DEFAULT_MODEL,
  'gpt-5-chat-latest': DEFAULT_MODEL,
};
/** relay.py caps the hint it gives nodes about when to poll control again. */
export const CONTROL_NEXT_POLL_MAX_SECONDS = 10;
/** relay.py's bound on an encrypted progress update, checked before the body is parsed. */
export const PROGRESS_MAX_BYTES = 16 * 1024;

export type TerminalStatus = 'cancelled' | 'expired';
export const TERMINAL_REASONS = new Set([
  'cancelled',
  'client_timeout',
  'expired',
  'requester_cancelled',
  'requester_gave_up',
  'provider_timeout',
  'pending_request_ttl_exceeded',
  'server_unregistered',
]);

export function terminalStatusOf(value: unknown): TerminalStatus {
  return value === 'expired' ? 'expired' : 'cancelled';
}

export function terminalReasonOf(value: unknown, status: TerminalStatus): string {
  return typeof value === 'string' && TERMINAL_REASONS.has(value) ? value : status;
}

export type Json = Record<string, unknown>;

export interface Wire {
  json(status: number, body: Json, headers?: Record<string, string>): Response;
  /** `{"error": {"message": message, "code": code, ...extra}}` */
  error(status: number, message: string, code: string | number, extra?: Json, headers?: Record<string, string>): Response;
}

/** baseHeaders go on every response (the public routes' CORS headers), set at construction rather than mutated after. */
export function createWire(ResponseCtor: ResponseClass, baseHeaders: Readonly<Record<string, string>> = {}): Wire {
  return {
    json: (status, body, headers = {}) => jsonResponse(ResponseCtor, status, body, { ...baseHeaders, ...headers }),
    error: (status, message, code, extra = {}, headers = {}) =>
      jsonResponse(ResponseCtor, status, { error: { message, code, ...extra } }, { ...baseHeaders, ...headers }),
  };
}

/** relay.py's relative deadline fields, from an absolute wall-clock deadline. */
export function deadlineFields(deadline: number | undefined, now: number): Json {
  if (deadline === undefined) return {};
  const remaining = Math.max(deadline - now, 0) / 1000;
  return { request_deadline_remaining_seconds: remaining, request_ttl_seconds: remaining };
}

/** A short, non-reversible label of a key for logs: the relay never logs keys or ciphertext. */
export function fingerprint(key: unknown): string {
  if (typeof key !== 'string' || key === '') return 'unknown';
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}
