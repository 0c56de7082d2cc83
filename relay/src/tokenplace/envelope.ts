/**
 * The ciphertext-only envelope rules. The relay is blind: a body that carries plaintext model
 * fields or anything outside the allowlist is refused before any state changes.
 */
import { type Json, PROTOCOL } from './wire.ts';

const PLAINTEXT_FIELDS = ['messages', 'prompt', 'input', 'content', 'response', 'text'];
const ENVELOPE_FIELDS = new Set([
  'client_public_key',
  'ciphertext',
  'chat_history',
  'cipherkey',
  'iv',
  'request_id',
  'protocol',
  'version',
  'cancel_token',
]);
const PROGRESS_FIELDS = [
  'server_public_key',
  'client_public_key',
  'request_id',
  'control_credential',
  'protocol',
  'version',
  'ciphertext',
  'cipherkey',
  'iv',
];
/** What of a progress update the client gets back: routing identities and ciphertext only. */
export const PROGRESS_CLIENT_FIELDS = ['client_public_key', 'request_id', 'protocol', 'version', 'ciphertext', 'cipherkey', 'iv'];

/** Longest key, request id or token the relay keeps; far above what token.place sends (RSA-2048 PEM in base64 is 604). */
export const MAX_IDENTIFIER_LENGTH = 8192;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function hasPlaintextFields(body: Json): boolean {
  return PLAINTEXT_FIELDS.some((field) => field in body);
}

export function hasUnexpectedFields(body: Json, allowServerKey: boolean): boolean {
  return Object.keys(body).some((field) => !ENVELOPE_FIELDS.has(field) && !(allowServerKey && field === 'server_public_key'));
}

export function nonEmptyString(value: unknown, max = MAX_IDENTIFIER_LENGTH): value is string {
  return typeof value === 'string' && value !== '' && value.length <= max;
}

/** The stored form of a request or response: what relay.py keeps, with both ciphertext field names filled in. */
export interface Envelope extends Json {
  client_public_key: string;
  chat_history: string;
  ciphertext: string;
  cipherkey: string;
  iv: string;
  request_id: string;
}

export type EnvelopeCheck = { ok: true; envelope: Envelope; cancelToken?: string } | { ok: false; message: string };

/**
 * relay.py's envelope extraction, stricter on types: ciphertext (or chat_history), cipherkey and
 * iv must be strings, and a request_id is required so every request can be tracked, cancelled and
 * answered exactly once.
 */
export function extractEnvelope(body: Json): EnvelopeCheck {
  const invalid = { ok: false as const, message: 'Invalid request data' };
  const ciphertext = 'ciphertext' in body ? body.ciphertext : body.chat_history;
  if (!('ciphertext' in body) && !('chat_history' in body)) return invalid;
  if (!('cipherkey' in body) || !('iv' in body)) return invalid;
  if (typeof ciphertext !== 'string' || typeof body.cipherkey !== 'string' || typeof body.iv !== 'string') return invalid;
  const envelope: Envelope = {
    client_public_key: body.client_public_key as string,
    chat_history: ciphertext,
    ciphertext,
    cipherkey: body.cipherkey,
    iv: body.iv,
    request_id: body.request_id as string,
  };
  if ('protocol' in body) envelope.protocol = body.protocol;
  if ('version' in body) envelope.version = body.version;
  const cancelToken = typeof body.cancel_token === 'string' && body.cancel_token !== '' ? body.cancel_token : undefined;
  return { ok: true, envelope, cancelToken };
}

export type ProgressCheck =
  | { ok: true; serverKey: string; clientKey: string; requestId: string; credential: string; envelope: Json }
  | { ok: false; message: string };

/** relay.py's progress schema: exactly its nine fields, the protocol name and version 1, every other field a non-empty string. */
export function checkProgress(body: unknown): ProgressCheck {
  if (!isObject(body)) return { ok: false, message: 'Invalid encrypted progress schema' };
  const keys = Object.keys(body);
  if (keys.length !== PROGRESS_FIELDS.length || !PROGRESS_FIELDS.every((field) => field in body)) {
    return { ok: false, message: 'Invalid encrypted progress schema' };
  }
  if (body.protocol !== PROTOCOL || body.version !== 1) return { ok: false, message: 'Invalid encrypted progress protocol' };
  if (!PROGRESS_FIELDS.every((field) => field === 'version' || nonEmptyString(body[field], Number.MAX_SAFE_INTEGER))) {
    return { ok: false, message: 'Invalid encrypted progress envelope' };
  }
  const envelope: Json = {};
  for (const field of PROGRESS_CLIENT_FIELDS) envelope[field] = body[field];
  return {
    ok: true,
    serverKey: body.server_public_key as string,
    clientKey: body.client_public_key as string,
    requestId: body.request_id as string,
    credential: body.control_credential as string,
    envelope,
  };
}
