import { clientRequest, NODE_D, NODE_PLANE, OTHER_CLIENT } from './fixtures.ts';
import type { Step } from './step.ts';

const REQUESTS = `${NODE_PLANE}/requests`;
const POLL = `${NODE_PLANE}/servers/poll`;
const toNodeD = (requestId: string) =>
  clientRequest({ server_public_key: NODE_D, client_public_key: OTHER_CLIENT, request_id: requestId, cancel_token: requestId });

/**
 * Node D (max_concurrency 1, a queue of at most two per the environment) filled past its limits, on its own model so
 * that nothing else in the script is scheduled onto it.
 */
export const capacitySteps: Step[] = [
  { name: 'requests: first for node D', method: 'POST', path: REQUESTS, json: toNodeD('diff-request-d1') },
  { name: 'requests: second for node D', method: 'POST', path: REQUESTS, json: toNodeD('diff-request-d2') },
  {
    name: 'requests: node queue full',
    method: 'POST',
    path: REQUESTS,
    json: toNodeD('diff-request-d3'),
    compareHeaders: ['retry-after'],
  },
  { name: 'poll: node D takes its first', method: 'POST', path: POLL, token: true, json: { server_public_key: NODE_D } },
  { name: 'poll: node D at max_concurrency', method: 'POST', path: POLL, token: true, json: { server_public_key: NODE_D } },
];
