import { randomBytes } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { SERVER_TOKEN } from './settings.ts';

export interface Answer {
  status: number;
  /** The JSON object answered, or `{ text }` when the answer was not a JSON object (relay.py answers some errors in HTML). */
  body: Record<string, unknown>;
}

export const NODE_HEADERS = { 'x-relay-server-token': SERVER_TOKEN };

/** POSTs a JSON body and reads the whole answer (JSON when it parses, text otherwise). */
export async function postJson(
  dispatcher: Dispatcher,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const answer = await dispatcher.request({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await answer.body.text();
  return { status: answer.statusCode, body: parseObject(text) };
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { text };
}

const base64 = (bytes: number) => randomBytes(bytes).toString('base64');

/** A stand-in for a base64 public key, the size of an RSA-2048 key in PEM. */
export const fakePublicKey = () => base64(450);

// Sizes of a short chat turn as token.place's clients send it: RSA-wrapped AES key, 16-byte IV, ~1 KB of ciphertext.
const CIPHERTEXT = base64(1024);
const CIPHERKEY = base64(256);
const IV = base64(16);
const PROTOCOL = { protocol: 'tokenplace_api_v1_relay_e2ee', version: 1 };

/** What a client POSTs to /api/v1/relay/requests: a ciphertext envelope only (the relay never decrypts). */
export function clientEnvelope(serverPublicKey: string, clientPublicKey: string, requestId: string) {
  return {
    server_public_key: serverPublicKey,
    client_public_key: clientPublicKey,
    request_id: requestId,
    chat_history: CIPHERTEXT,
    cipherkey: CIPHERKEY,
    iv: IV,
    ...PROTOCOL,
  };
}

/** What a node POSTs to /api/v1/relay/responses for a work item: a made-up ciphertext for the item's client. */
export function nodeEnvelope(clientPublicKey: string, requestId: string) {
  return {
    client_public_key: clientPublicKey,
    request_id: requestId,
    ciphertext: CIPHERTEXT,
    cipherkey: CIPHERKEY,
    iv: IV,
    ...PROTOCOL,
  };
}
