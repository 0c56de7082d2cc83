import {
  CANCEL_TOKEN_1,
  CANCEL_TOKEN_2,
  CLIENT,
  clientRequest,
  credentialOf,
  NODE_A,
  NODE_C,
  NODE_PLANE,
  nodeResponse,
  OTHER_CLIENT,
  progressUpdate,
  REQUEST_1,
  REQUEST_2,
  SERVER_TOKEN,
  UNKNOWN_NODE,
} from './fixtures.ts';
import type { Memory, Step } from './step.ts';

const POLL = `${NODE_PLANE}/servers/poll`;
const CONTROL = `${NODE_PLANE}/servers/control`;
const PROGRESS = `${NODE_PLANE}/progress`;
const RESPONSES = `${NODE_PLANE}/responses`;
const RETRIEVE = `${NODE_PLANE}/responses/retrieve`;
const CANCEL = `${NODE_PLANE}/requests/cancel`;

const control =
  (requestId: string, extra: Record<string, unknown> = {}) =>
  (memory: Memory) => ({
    server_public_key: NODE_A,
    request_id: requestId,
    control_credential: credentialOf(memory, NODE_A),
    ...extra,
  });
const progress =
  (fields: Record<string, unknown> = {}) =>
  (memory: Memory) =>
    progressUpdate(memory, fields);

/** Node A takes request 1, reports progress and answers it; then takes request 2, which the client cancels. */
export const lifecycleSteps: Step[] = [
  { name: 'poll: no token', method: 'POST', path: POLL, json: { server_public_key: NODE_A } },
  { name: 'poll: body not an object', method: 'POST', path: POLL, token: true, json: 'poll please' },
  { name: 'poll: missing server_public_key', method: 'POST', path: POLL, token: true, json: {} },
  {
    name: 'poll: bad capabilities',
    method: 'POST',
    path: POLL,
    token: true,
    json: { server_public_key: NODE_A, capabilities: { api_version: 'v1' } },
  },
  { name: 'poll: unknown node', method: 'POST', path: POLL, token: true, json: { server_public_key: UNKNOWN_NODE } },
  { name: 'poll: work item returned', method: 'POST', path: POLL, token: true, json: { server_public_key: NODE_A } },
  { name: 'next: capacity exhausted', method: 'GET', path: `${NODE_PLANE}/servers/next` },

  {
    name: 'control: bad credential',
    method: 'POST',
    path: CONTROL,
    token: true,
    json: { server_public_key: NODE_A, request_id: REQUEST_1, control_credential: 'not-the-credential' },
  },
  { name: 'control: missing request_id', method: 'POST', path: CONTROL, token: true, json: { server_public_key: NODE_A } },
  {
    name: 'control: unknown node',
    method: 'POST',
    path: CONTROL,
    token: true,
    json: { server_public_key: UNKNOWN_NODE, request_id: REQUEST_1, control_credential: 'whatever' },
  },
  { name: 'control: active', method: 'POST', path: CONTROL, token: true, json: control(REQUEST_1) },
  { name: 'control: unknown request', method: 'POST', path: CONTROL, token: true, json: control('diff-request-never-sent') },

  { name: 'progress: no token', method: 'POST', path: PROGRESS, json: progress() },
  {
    name: 'progress: body not JSON',
    method: 'POST',
    path: PROGRESS,
    token: true,
    raw: { body: '{"request_id": ', contentType: 'application/json' },
  },
  {
    name: 'progress: missing field',
    method: 'POST',
    path: PROGRESS,
    token: true,
    json: (memory: Memory) => {
      const { iv: _iv, ...rest } = progressUpdate(memory);
      return rest;
    },
  },
  { name: 'progress: extra field', method: 'POST', path: PROGRESS, token: true, json: progress({ stage: 'thinking' }) },
  { name: 'progress: plaintext field', method: 'POST', path: PROGRESS, token: true, json: progress({ text: 'hello' }) },
  { name: 'progress: empty ciphertext', method: 'POST', path: PROGRESS, token: true, json: progress({ ciphertext: '' }) },
  { name: 'progress: wrong protocol', method: 'POST', path: PROGRESS, token: true, json: progress({ protocol: 'plaintext' }) },
  { name: 'progress: wrong version', method: 'POST', path: PROGRESS, token: true, json: progress({ version: 2 }) },
  {
    name: 'progress: wrong credential',
    method: 'POST',
    path: PROGRESS,
    token: true,
    json: progress({ control_credential: 'not-the-credential' }),
  },
  { name: 'progress: not in flight', method: 'POST', path: PROGRESS, token: true, json: progress({ request_id: REQUEST_2 }) },
  { name: 'progress: oversize', method: 'POST', path: PROGRESS, token: true, json: progress({ ciphertext: 'A'.repeat(17_000) }) },
  { name: 'progress: accepted', method: 'POST', path: PROGRESS, token: true, json: progress() },
  {
    name: 'retrieve: pending with progress',
    method: 'POST',
    path: RETRIEVE,
    json: { client_public_key: CLIENT, request_id: REQUEST_1 },
  },

  { name: 'responses: no token', method: 'POST', path: RESPONSES, json: nodeResponse({}) },
  { name: 'responses: plaintext field', method: 'POST', path: RESPONSES, token: true, json: nodeResponse({ response: 'hi' }) },
  {
    name: 'responses: unknown field',
    method: 'POST',
    path: RESPONSES,
    token: true,
    json: nodeResponse({ server_public_key: NODE_A }),
  },
  {
    name: 'responses: missing client key',
    method: 'POST',
    path: RESPONSES,
    token: true,
    json: nodeResponse({ client_public_key: '' }),
  },
  {
    name: 'responses: malformed JSON',
    method: 'POST',
    path: RESPONSES,
    token: true,
    raw: { body: '{"client_public_key": ', contentType: 'application/json' },
  },
  {
    name: 'responses: no request_id',
    method: 'POST',
    path: RESPONSES,
    token: true,
    json: (() => {
      const { request_id: _id, ...rest } = nodeResponse({ client_public_key: OTHER_CLIENT });
      return rest;
    })(),
  },
  { name: 'responses: accepted', method: 'POST', path: RESPONSES, token: true, json: nodeResponse({}) },
  { name: 'responses: duplicate', method: 'POST', path: RESPONSES, token: true, json: nodeResponse({}) },
  { name: 'retrieve: delivered', method: 'POST', path: RETRIEVE, json: { client_public_key: CLIENT, request_id: REQUEST_1 } },
  {
    name: 'retrieve: delivered only once',
    method: 'POST',
    path: RETRIEVE,
    json: { client_public_key: CLIENT, request_id: REQUEST_1 },
  },
  {
    // To node C, which is unregistered before anything polls it, so relay.py's second copy changes nothing later.
    name: 'requests: request_id reused after its answer',
    method: 'POST',
    path: `${NODE_PLANE}/requests`,
    json: clientRequest({ server_public_key: NODE_C, request_id: REQUEST_1, cancel_token: CANCEL_TOKEN_1 }),
  },
  { name: 'control: after the response', method: 'POST', path: CONTROL, token: true, json: control(REQUEST_1) },

  { name: 'poll: second work item', method: 'POST', path: POLL, token: true, json: { server_public_key: NODE_A } },
  {
    name: 'cancel: body not an object',
    method: 'POST',
    path: CANCEL,
    json: 'cancel',
  },
  {
    name: 'cancel: unknown request',
    method: 'POST',
    path: CANCEL,
    json: { client_public_key: CLIENT, request_id: 'diff-request-never-sent', cancel_token: CANCEL_TOKEN_2 },
  },
  {
    name: 'cancel: missing proof',
    method: 'POST',
    path: CANCEL,
    json: { client_public_key: CLIENT, request_id: REQUEST_2 },
  },
  {
    name: 'cancel: wrong proof',
    method: 'POST',
    path: CANCEL,
    json: { client_public_key: CLIENT, request_id: REQUEST_2, cancel_token: 'not-the-cancel-token' },
  },
  {
    name: 'cancel: good',
    method: 'POST',
    path: CANCEL,
    json: { client_public_key: CLIENT, request_id: REQUEST_2, cancel_token: CANCEL_TOKEN_2 },
  },
  { name: 'control: after cancel', method: 'POST', path: CONTROL, token: true, json: control(REQUEST_2) },
  {
    name: 'control: acknowledge',
    method: 'POST',
    path: CONTROL,
    token: true,
    json: control(REQUEST_2, { acknowledge: true }),
  },
  { name: 'control: after acknowledge', method: 'POST', path: CONTROL, token: true, json: control(REQUEST_2) },
  {
    name: 'retrieve: after cancel',
    method: 'POST',
    path: RETRIEVE,
    json: { client_public_key: CLIENT, request_id: REQUEST_2 },
  },
  {
    name: 'responses: terminal',
    method: 'POST',
    path: RESPONSES,
    token: true,
    json: nodeResponse({ request_id: REQUEST_2 }),
  },
  {
    name: 'progress: after cancel',
    method: 'POST',
    path: PROGRESS,
    token: true,
    json: progress({ request_id: REQUEST_2 }),
  },
  { name: 'poll: nothing queued', method: 'POST', path: POLL, token: true, json: { server_public_key: NODE_A } },
  {
    name: 'poll: wrong token',
    method: 'POST',
    path: POLL,
    token: `${SERVER_TOKEN}-wrong`,
    json: { server_public_key: NODE_A },
  },
];
