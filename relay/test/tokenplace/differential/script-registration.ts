import { GOOD_CAPABILITIES, NODE_A, NODE_B, NODE_C, NODE_D, NODE_PLANE, rememberCredential, SERVER_TOKEN } from './fixtures.ts';
import type { Step } from './step.ts';

const REGISTER = `${NODE_PLANE}/servers/register`;
const NEXT = `${NODE_PLANE}/servers/next`;

/** Each way capabilities can be refused, as [what is wrong, the capabilities sent]. */
const BAD_CAPABILITIES: [string, unknown][] = [
  ['not an object', 'fast'],
  ['api_version v2', { ...GOOD_CAPABILITIES, api_version: 'v2' }],
  ['context tier not a string', { ...GOOD_CAPABILITIES, active_context_tier: 8 }],
  ['unsupported context tier', { ...GOOD_CAPABILITIES, active_context_tier: '1m-huge' }],
  ['no model ids', { ...GOOD_CAPABILITIES, supported_model_ids: [] }],
  ['model id not a string', { ...GOOD_CAPABILITIES, supported_model_ids: [7] }],
  ['model id too long', { ...GOOD_CAPABILITIES, supported_model_ids: ['m'.repeat(129)] }],
  ['too many model ids', { ...GOOD_CAPABILITIES, supported_model_ids: Array.from({ length: 65 }, (_, i) => `model-${i}`) }],
  ['context tokens not an integer', { ...GOOD_CAPABILITIES, maximum_total_context_tokens: 'lots' }],
  ['context tokens below the tier', { ...GOOD_CAPABILITIES, maximum_total_context_tokens: 4096 }],
  ['output reservation zero', { ...GOOD_CAPABILITIES, default_output_token_reservation: 0 }],
  ['maximum output a boolean', { ...GOOD_CAPABILITIES, maximum_output_tokens: true }],
  ['concurrency above 128', { ...GOOD_CAPABILITIES, max_concurrency: 129 }],
  ['reservation above maximum output', { ...GOOD_CAPABILITIES, default_output_token_reservation: 2048 }],
  ['backend class not a string', { ...GOOD_CAPABILITIES, backend_class: 5 }],
];

export const registrationSteps: Step[] = [
  { name: 'diagnostics: no nodes', method: 'GET', path: '/relay/diagnostics' },
  { name: 'next: no nodes', method: 'GET', path: NEXT },
  { name: 'legacy next_server: gone', method: 'GET', path: '/next_server' },

  { name: 'register: no token', method: 'POST', path: REGISTER, json: { server_public_key: NODE_A } },
  {
    name: 'register: wrong token',
    method: 'POST',
    path: REGISTER,
    token: `${SERVER_TOKEN}-wrong`,
    json: { server_public_key: NODE_A },
  },
  {
    name: 'register: body not JSON',
    method: 'POST',
    path: REGISTER,
    token: true,
    raw: { body: '{"server_public_key": ', contentType: 'application/json' },
  },
  { name: 'register: body not an object', method: 'POST', path: REGISTER, token: true, json: [NODE_A] },
  { name: 'register: missing server_public_key', method: 'POST', path: REGISTER, token: true, json: { capabilities: null } },
  ...BAD_CAPABILITIES.map(
    ([what, capabilities]): Step => ({
      name: `register: capabilities ${what}`,
      method: 'POST',
      path: REGISTER,
      token: true,
      json: { server_public_key: NODE_A, capabilities },
    }),
  ),
  {
    name: 'register: good with capabilities',
    method: 'POST',
    path: REGISTER,
    token: true,
    json: { server_public_key: NODE_A, capabilities: GOOD_CAPABILITIES },
    remember: rememberCredential(NODE_A),
  },
  {
    name: 'register: good without capabilities',
    method: 'POST',
    path: REGISTER,
    token: true,
    json: { server_public_key: NODE_B },
    remember: rememberCredential(NODE_B),
  },
  {
    name: 'register: unknown backend class and another model',
    method: 'POST',
    path: REGISTER,
    token: true,
    json: {
      server_public_key: NODE_C,
      capabilities: { ...GOOD_CAPABILITIES, supported_model_ids: ['diff-other-model'], backend_class: 'abacus' },
    },
    remember: rememberCredential(NODE_C),
  },
  {
    name: 'register: re-registration keeps the credential secret',
    method: 'POST',
    path: REGISTER,
    token: true,
    json: { server_public_key: NODE_A, capabilities: GOOD_CAPABILITIES },
  },
  {
    name: 'register: one at a time on its own model',
    method: 'POST',
    path: REGISTER,
    token: true,
    json: { server_public_key: NODE_D, capabilities: { ...GOOD_CAPABILITIES, supported_model_ids: ['diff-busy-model'] } },
  },
  { name: 'diagnostics: four nodes', method: 'GET', path: '/relay/diagnostics' },

  { name: 'next: default model', method: 'GET', path: NEXT },
  { name: 'next: named model', method: 'GET', path: `${NEXT}?model=qwen3-8b-instruct&context_tier=8k-fast` },
  { name: 'next: unknown model', method: 'GET', path: `${NEXT}?model=no-such-model` },
  { name: 'next: bad context_tier', method: 'GET', path: `${NEXT}?context_tier=1m-huge` },
  { name: 'next: no node has the larger tier', method: 'GET', path: `${NEXT}?context_tier=64k-full` },
];
