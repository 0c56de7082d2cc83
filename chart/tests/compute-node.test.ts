/**
 * The chart's default: token.place compute nodes dial out to the relay, so no HTTP upstream, no
 * gpu-server Service and no egress; the protocol settings reach the relay as values.yaml says and
 * as the relay itself parses them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, SETTINGS } from '../../relay/src/config.ts';
import { TOKENPLACE_SETTINGS } from '../../relay/src/tokenplace/settings.ts';
import { findHelm } from './helm-binary.ts';
import { findAll, findOne, HTTP_UPSTREAM_VALUES, type K8sObject, renderObjects, type Values } from './render.ts';

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests.
type Any = any;

const PROTOCOL: Values = {
  env: {
    protocol: {
      pollWaitSeconds: 2.5,
      nodeLeaseSeconds: 90,
      maxQueueDepthPerNode: 8,
      requestDeadlineSeconds: 600,
      rateLimit: '100000/hour',
      dailyQuota: 'off',
      controlPlaneIpRateLimit: '500/minute',
      openRegistration: true,
      maxNodes: 4,
      maxEnvelopeBytes: 4194304,
      maxStoredBytes: 33554432,
    },
    trustedProxies: ['10.42.0.0/16', 'fd00::/8'],
  },
};

const rendered = new Map<string, K8sObject[]>();
const render = async (name: string, values: Values[]) => {
  rendered.set(name, await renderObjects(await findHelm(4), { values }));
};
const objectsOf = (name: string) => rendered.get(name) as K8sObject[];
const relayEnv = (name: string): Record<string, Any> => {
  const container = findOne(objectsOf(name), 'Deployment').spec.template.spec.containers[0];
  return Object.fromEntries(container.env.map((e: Any) => [e.name, e]));
};
const plainEnv = (name: string): Record<string, string> =>
  Object.fromEntries(Object.values(relayEnv(name)).flatMap((e: Any) => (e.value === undefined ? [] : [[e.name, e.value]])));

beforeAll(async () => {
  await Promise.all([
    render('defaults', []),
    render('protocol', [PROTOCOL]),
    render('trustNone', [{ env: { trustedProxies: [] } }]),
    render('extraEgress', [{ networkPolicy: { extraEgress: [{ to: [{ ipBlock: { cidr: '10.0.0.9/32' } }] }] } }]),
    render('httpUpstream', [HTTP_UPSTREAM_VALUES]),
  ]);
}, 120_000);

describe('by default (token.place compute nodes only)', () => {
  it('renders no gpu-server Service, no EndpointSlice and no upstream variable', () => {
    expect(findAll(objectsOf('defaults'), 'Service').map((s) => s.metadata.name)).toEqual([
      'relay-tokenplace-relay-metrics',
      'relay-tokenplace-relay',
    ]);
    expect(findAll(objectsOf('defaults'), 'EndpointSlice')).toEqual([]);
    const env = relayEnv('defaults');
    for (const name of [
      'TOKENPLACE_RELAY_UPSTREAM_URL',
      'TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS',
      'TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY',
      'TOKENPLACE_RELAY_QUEUE_LENGTH',
      'TOKENPLACE_RELAY_ALLOWED_UPSTREAMS',
      'TOKENPLACE_RELAY_SERVER_LEASE_SECONDS',
    ]) {
      expect(env[name], name).toBeUndefined();
    }
  });

  it('lets the relay start with forwarding off', () => {
    expect(loadConfig(plainEnv('defaults')).upstreamUrl).toBeUndefined();
  });

  it('the NetworkPolicy admits Traefik as with the HTTP upstream, and allows no egress at all, not even DNS', () => {
    const policy = findOne(objectsOf('defaults'), 'NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.ingress).toEqual(findOne(objectsOf('httpUpstream'), 'NetworkPolicy').spec.ingress);
    expect(policy.spec.egress).toEqual([]);
  });

  it('extraEgress rules are the only egress then', () => {
    expect(findOne(objectsOf('extraEgress'), 'NetworkPolicy').spec.egress).toEqual([
      { to: [{ ipBlock: { cidr: '10.0.0.9/32' } }] },
    ]);
  });

  it('requires the server token Secret: the pods wait for it instead of running without a token', () => {
    expect(relayEnv('defaults').TOKEN_PLACE_RELAY_SERVER_TOKEN.valueFrom).toEqual({
      secretKeyRef: { name: 'tokenplace-relay-secrets', key: 'TOKEN_PLACE_RELAY_SERVER_TOKEN', optional: false },
    });
    expect(plainEnv('defaults').TOKENPLACE_RELAY_OPEN_REGISTRATION).toBe('false');
  });
});

describe('the protocol settings (env.protocol)', () => {
  it("default to the relay's own defaults, under token.place's variable names", () => {
    const env = plainEnv('defaults');
    const s = TOKENPLACE_SETTINGS;
    for (const setting of [
      s.pollWaitSeconds,
      s.nodeLeaseSeconds,
      s.maxQueueDepth,
      s.requestDeadlineSeconds,
      s.publicRateLimit,
      s.publicDailyQuota,
      s.controlPlaneIpRateLimit,
      s.openRegistration,
      s.maxNodes,
      s.maxEnvelopeBytes,
      s.maxStoredBytes,
    ]) {
      expect(env[setting.name], setting.name).toBe(String(setting.fallback));
    }
    // Unset, so the relay's default applies: loopback and private ranges, which hold Traefik's pod IP.
    expect(env[SETTINGS.trustedProxies.name]).toBeUndefined();
  });

  it('pass every value as the relay parses it', () => {
    const env = plainEnv('protocol');
    expect(env.TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS).toBe('2.5');
    expect(env.TOKENPLACE_RELAY_TRUSTED_PROXIES).toBe('10.42.0.0/16,fd00::/8');
    expect(env.API_DAILY_QUOTA).toBe('off');
    const config = loadConfig(env).tokenplace;
    expect(config).toMatchObject({
      pollWaitSeconds: 2.5,
      nodeLeaseSeconds: 90,
      maxQueueDepth: 8,
      requestDeadlineSeconds: 600,
      openRegistration: true,
      maxNodes: 4,
      maxEnvelopeBytes: 4194304,
      maxStoredBytes: 33554432,
    });
    expect(config.publicRateLimits.map((r) => r.text)).toEqual(['100000/hour']);
    expect(config.controlPlaneIpRateLimit?.text).toBe('500/minute');
    expect(loadConfig(env).trustedProxies).toHaveLength(2);
  });

  it('an empty trustedProxies list trusts no proxy', () => {
    const env = plainEnv('trustNone');
    expect(env.TOKENPLACE_RELAY_TRUSTED_PROXIES).toBe('none');
    expect(loadConfig(env).trustedProxies).toEqual([]);
  });

  it('are also passed with the HTTP upstream on', () => {
    expect(plainEnv('httpUpstream').TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS).toBe('10');
    expect(plainEnv('httpUpstream').TOKENPLACE_RELAY_UPSTREAM_URL).toBe('http://gpu-server:8000');
  });
});
