import {
  CANCEL_TOKEN_1,
  CANCEL_TOKEN_2,
  CIPHERTEXT,
  CLIENT,
  clientRequest,
  NODE_C,
  NODE_PLANE,
  OTHER_CLIENT,
  REQUEST_1,
  REQUEST_2,
  UNKNOWN_NODE,
} from './fixtures.ts';
import type { Step } from './step.ts';

const REQUESTS = `${NODE_PLANE}/requests`;
const RETRIEVE = `${NODE_PLANE}/responses/retrieve`;

function without(fields: Record<string, unknown>, ...names: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([name]) => !names.includes(name)));
}

const request1 = clientRequest({ request_id: REQUEST_1, cancel_token: CANCEL_TOKEN_1 });

/** The client plane: refused envelopes, then two good requests queued for node A, then a pending retrieve. */
export const clientSteps: Step[] = [
  { name: 'requests: plaintext messages', method: 'POST', path: REQUESTS, json: { ...request1, messages: [] } },
  { name: 'requests: plaintext prompt', method: 'POST', path: REQUESTS, json: { ...request1, prompt: 'hello' } },
  { name: 'requests: unknown key', method: 'POST', path: REQUESTS, json: { ...request1, model: 'qwen3-8b-instruct' } },
  { name: 'requests: missing cipherkey', method: 'POST', path: REQUESTS, json: without(request1, 'cipherkey') },
  { name: 'requests: missing iv', method: 'POST', path: REQUESTS, json: without(request1, 'iv') },
  { name: 'requests: missing ciphertext', method: 'POST', path: REQUESTS, json: without(request1, 'ciphertext') },
  { name: 'requests: missing server_public_key', method: 'POST', path: REQUESTS, json: without(request1, 'server_public_key') },
  { name: 'requests: missing client_public_key', method: 'POST', path: REQUESTS, json: without(request1, 'client_public_key') },
  { name: 'requests: body a JSON array', method: 'POST', path: REQUESTS, json: [request1] },
  { name: 'requests: unknown server', method: 'POST', path: REQUESTS, json: { ...request1, server_public_key: UNKNOWN_NODE } },
  {
    name: 'requests: content type not JSON',
    method: 'POST',
    path: REQUESTS,
    raw: { body: JSON.stringify(request1), contentType: 'text/plain' },
  },
  {
    name: 'requests: malformed JSON',
    method: 'POST',
    path: REQUESTS,
    raw: { body: '{"client_public_key": ', contentType: 'application/json' },
  },
  {
    // Queued on node C, which is unregistered at the end of the script before anything polls it.
    name: 'requests: no request_id',
    method: 'POST',
    path: REQUESTS,
    json: clientRequest({ server_public_key: NODE_C, client_public_key: OTHER_CLIENT }),
  },
  {
    name: 'requests: good with chat_history',
    method: 'POST',
    path: REQUESTS,
    json: { ...without(request1, 'ciphertext'), chat_history: CIPHERTEXT },
  },
  {
    name: 'requests: good with ciphertext',
    method: 'POST',
    path: REQUESTS,
    json: clientRequest({ request_id: REQUEST_2, cancel_token: CANCEL_TOKEN_2 }),
  },

  { name: 'retrieve: missing client key', method: 'POST', path: RETRIEVE, json: { request_id: REQUEST_1 } },
  {
    name: 'retrieve: malformed JSON',
    method: 'POST',
    path: RETRIEVE,
    raw: { body: '{"client_public_key": ', contentType: 'application/json' },
  },
  {
    name: 'retrieve: pending without progress',
    method: 'POST',
    path: RETRIEVE,
    json: { client_public_key: CLIENT, request_id: REQUEST_1 },
  },
  {
    name: 'retrieve: unknown request_id',
    method: 'POST',
    path: RETRIEVE,
    json: { client_public_key: CLIENT, request_id: 'diff-request-never-sent' },
  },
];
