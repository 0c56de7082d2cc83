import { CLIENT, credentialOf, NODE_B, NODE_C, NODE_PLANE, UNKNOWN_NODE } from './fixtures.ts';
import type { Memory, Step } from './step.ts';

const UNREGISTER = `${NODE_PLANE}/servers/unregister`;
const PREFLIGHT_HEADERS = {
  Origin: 'https://browser.example',
  'Access-Control-Request-Method': 'POST',
  'Access-Control-Request-Headers': 'content-type',
};
const PREFLIGHT_COMPARED = ['access-control-allow-methods'];

/** Nodes leave (API v1 and legacy route), then CORS preflights and a last look at diagnostics. */
export const teardownSteps: Step[] = [
  { name: 'unregister: no token', method: 'POST', path: UNREGISTER, json: { server_public_key: NODE_C } },
  { name: 'unregister: body not an object', method: 'POST', path: UNREGISTER, token: true, json: [NODE_C] },
  { name: 'unregister: no credential', method: 'POST', path: UNREGISTER, token: true, json: { server_public_key: NODE_C } },
  {
    name: 'unregister: wrong credential',
    method: 'POST',
    path: UNREGISTER,
    token: true,
    json: { server_public_key: NODE_C, control_credential: 'not-the-credential' },
  },
  {
    name: 'unregister: good',
    method: 'POST',
    path: UNREGISTER,
    token: true,
    json: (memory: Memory) => ({ server_public_key: NODE_C, control_credential: credentialOf(memory, NODE_C) }),
  },
  {
    name: 'unregister: unknown node',
    method: 'POST',
    path: UNREGISTER,
    token: true,
    json: { server_public_key: UNKNOWN_NODE, control_credential: 'whatever' },
  },
  { name: 'legacy unregister: body not an object', method: 'POST', path: '/unregister', token: true, json: 'node B' },
  { name: 'legacy unregister: no public key', method: 'POST', path: '/unregister', token: true, json: {} },
  {
    name: 'legacy unregister: good',
    method: 'POST',
    path: '/unregister',
    token: true,
    json: (memory: Memory) => ({ server_public_key: NODE_B, control_credential: credentialOf(memory, NODE_B) }),
  },

  {
    name: 'preflight: public route',
    method: 'OPTIONS',
    path: `${NODE_PLANE}/requests`,
    headers: PREFLIGHT_HEADERS,
    compareHeaders: PREFLIGHT_COMPARED,
  },
  {
    name: 'preflight: compute-node route',
    method: 'OPTIONS',
    path: `${NODE_PLANE}/servers/poll`,
    headers: PREFLIGHT_HEADERS,
    compareHeaders: PREFLIGHT_COMPARED,
  },
  { name: 'register: wrong method', method: 'GET', path: `${NODE_PLANE}/servers/register` },
  {
    name: 'retrieve: no request_id',
    method: 'POST',
    path: `${NODE_PLANE}/responses/retrieve`,
    json: { client_public_key: CLIENT },
  },
  { name: 'diagnostics: two nodes left', method: 'GET', path: '/relay/diagnostics' },
];
