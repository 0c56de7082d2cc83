/**
 * Bad values for the HTTP upstream switch and token.place's relay protocol settings (env.protocol),
 * in the format of bad-values.ts. Like those, each is rendered on top of the HTTP upstream values.
 */
import type { BadValuesCase } from './bad-values.ts';

const both = (...parts: string[]) => ({ 4: parts, 3: parts });

export const UPSTREAM_AND_PROTOCOL_SCHEMA_CASES: BadValuesCase[] = [
  {
    name: 'HTTP upstream switch given as a string',
    values: { env: { upstream: { enabled: 'true' } } },
    expect: {
      4: ["at '/env/upstream/enabled': got string, want boolean"],
      3: ['env.upstream.enabled: Invalid type. Expected: boolean, given: string'],
    },
  },
  {
    name: 'unknown key among the protocol settings',
    values: { env: { protocol: { pollWait: 5 } } },
    expect: {
      4: ["at '/env/protocol': additional properties 'pollWait' not allowed"],
      3: ['env.protocol: Additional property pollWait is not allowed'],
    },
  },
  {
    name: 'poll wait above 60 s',
    values: { env: { protocol: { pollWaitSeconds: 61 } } },
    expect: {
      4: ["at '/env/protocol/pollWaitSeconds': maximum: got 61, want 60"],
      3: ['env.protocol.pollWaitSeconds: Must be less than or equal to 60'],
    },
  },
  {
    name: 'node lease as a string',
    values: { env: { protocol: { nodeLeaseSeconds: '30' } } },
    expect: {
      4: ["at '/env/protocol/nodeLeaseSeconds': got string, want integer"],
      3: ['env.protocol.nodeLeaseSeconds: Invalid type. Expected: integer, given: string'],
    },
  },
  {
    name: 'queue depth per node of 0',
    values: { env: { protocol: { maxQueueDepthPerNode: 0 } } },
    expect: {
      4: ["at '/env/protocol/maxQueueDepthPerNode': minimum: got 0, want 1"],
      3: ['env.protocol.maxQueueDepthPerNode: Must be greater than or equal to 1'],
    },
  },
  {
    name: 'request deadline above an hour',
    values: { env: { protocol: { requestDeadlineSeconds: 7200 } } },
    expect: {
      4: ["at '/env/protocol/requestDeadlineSeconds': maximum: got 7,200, want 3,600"],
      3: ['env.protocol.requestDeadlineSeconds: Must be less than or equal to 3600'],
    },
  },
  {
    name: 'rate limit written in words',
    values: { env: { protocol: { rateLimit: '60 per hour' } } },
    expect: {
      4: ["at '/env/protocol/rateLimit': '60 per hour' does not match pattern"],
      3: ['env.protocol.rateLimit: Does not match pattern'],
    },
  },
  {
    name: 'daily quota as a number',
    values: { env: { protocol: { dailyQuota: 1000 } } },
    expect: {
      4: ["at '/env/protocol/dailyQuota': got number, want string"],
      3: ['env.protocol.dailyQuota: Invalid type. Expected: string, given: integer'],
    },
  },
  {
    name: 'trusted proxy named instead of a CIDR',
    values: { env: { trustedProxies: ['traefik'] } },
    expect: {
      4: ["at '/env/trustedProxies/0': 'traefik' does not match pattern"],
      3: ['env.trustedProxies.0: Does not match pattern'],
    },
  },
  {
    name: 'trusted proxies left under env.protocol, where they used to be',
    values: { env: { protocol: { trustedProxies: ['10.42.0.0/16'] } } },
    expect: {
      4: ["additional properties 'trustedProxies' not allowed"],
      3: ['Additional property trustedProxies is not allowed'],
    },
  },
  {
    name: 'open registration given as a string',
    values: { env: { protocol: { openRegistration: 'yes' } } },
    expect: {
      4: ["at '/env/protocol/openRegistration': got string, want boolean"],
      3: ['env.protocol.openRegistration: Invalid type. Expected: boolean, given: string'],
    },
  },
  {
    name: 'no compute node allowed',
    values: { env: { protocol: { maxNodes: 0 } } },
    expect: {
      4: ["at '/env/protocol/maxNodes': minimum: got 0, want 1"],
      3: ['env.protocol.maxNodes: Must be greater than or equal to 1'],
    },
  },
];

export const UPSTREAM_AND_PROTOCOL_TEMPLATE_CASES: BadValuesCase[] = [
  {
    name: 'GPU host and CIDR left in place with the HTTP upstream off',
    values: { env: { upstream: { enabled: false } } },
    expect: both(
      'gpuExternalName.host, networkPolicy.gpuServer.cidrs: only the optional HTTP GPU server uses this',
      'Set env.upstream.enabled=true',
    ),
  },
  {
    name: 'extraEnv setting a protocol variable',
    values: { extraEnv: [{ name: 'API_RATE_LIMIT', value: '1000/hour' }] },
    expect: both('extraEnv sets API_RATE_LIMIT, which the chart sets from its own values'),
  },
];
