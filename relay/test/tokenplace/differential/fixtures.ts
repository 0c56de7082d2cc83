import type { Memory, Step } from './step.ts';

/** The one environment both relays start with. */
export const SERVER_TOKEN = 'diff-token';
export const RELAY_ENV: Record<string, string> = {
  TOKEN_PLACE_RELAY_SERVER_TOKEN: SERVER_TOKEN,
  TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: '1',
  TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: '2',
  API_RATE_LIMIT: '100000/hour',
  API_DAILY_QUOTA: '1000000/day',
};

/** Fixed stand-ins for keys and ciphertext: the relay stores and forwards them but never decrypts anything. */
const base64 = (text: string) => Buffer.from(text).toString('base64');
export const NODE_A = base64('differential node A public key: the capable one');
export const NODE_B = base64('differential node B public key: registered without capabilities');
export const NODE_C = base64('differential node C public key: serves another model, unregistered at the end');
export const NODE_D = base64('differential node D public key: one at a time, on its own model');
export const UNKNOWN_NODE = base64('differential node that never registered');
export const CLIENT = base64('differential client public key');
export const OTHER_CLIENT = base64('differential other client public key');

export const REQUEST_1 = 'diff-request-1';
export const REQUEST_2 = 'diff-request-2';
export const CANCEL_TOKEN_1 = 'diff-cancel-token-1';
export const CANCEL_TOKEN_2 = 'diff-cancel-token-2';

export const PROTOCOL = 'tokenplace_api_v1_relay_e2ee';
export const CIPHER = { cipherkey: base64('a wrapped AES key'), iv: base64('sixteen byte iv!') };
export const CIPHERTEXT = base64('an encrypted chat history');

export const GOOD_CAPABILITIES = {
  api_version: 'v1',
  supported_model_ids: ['qwen3-8b-instruct'],
  active_context_tier: '8k-fast',
  maximum_total_context_tokens: 8192,
  default_output_token_reservation: 1024,
  maximum_output_tokens: 1024,
  max_concurrency: 1,
  backend_class: 'cpu',
};

export const NODE_PLANE = '/api/v1/relay';

/** A node's control credential as this relay handed it out, or a placeholder when registration failed. */
export function credentialOf(memory: Memory, node: string): string {
  return memory.credentials.get(node) ?? 'no-credential-was-issued';
}

export function rememberCredential(node: string): Step['remember'] {
  return (memory, answer) => {
    const credential = (answer as { control_credential?: unknown } | null)?.control_credential;
    if (typeof credential === 'string') memory.credentials.set(node, credential);
  };
}

/** What /api/v1/relay/requests expects from client.py: a ciphertext envelope addressed to a node. */
export function clientRequest(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    server_public_key: NODE_A,
    client_public_key: CLIENT,
    ciphertext: CIPHERTEXT,
    ...CIPHER,
    protocol: PROTOCOL,
    version: 1,
    ...fields,
  };
}

/** What a node posts to /api/v1/relay/responses: the encrypted answer for one client request. */
export function nodeResponse(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    client_public_key: CLIENT,
    request_id: REQUEST_1,
    ciphertext: base64('an encrypted answer'),
    ...CIPHER,
    protocol: PROTOCOL,
    version: 1,
    ...fields,
  };
}

/** What a node posts to /api/v1/relay/progress: exactly these nine fields, all strings but version. */
export function progressUpdate(memory: Memory, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server_public_key: NODE_A,
    client_public_key: CLIENT,
    request_id: REQUEST_1,
    control_credential: credentialOf(memory, NODE_A),
    protocol: PROTOCOL,
    version: 1,
    ciphertext: base64('an encrypted progress note'),
    ...CIPHER,
    ...fields,
  };
}
