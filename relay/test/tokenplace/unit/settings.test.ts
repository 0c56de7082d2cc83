import { describe, expect, it } from 'vitest';
import { type CidrRange, parseCidr } from '../../../src/cidr.ts';
import { loadConfig } from '../../../src/config.ts';
import { parseRateLimit } from '../../../src/tokenplace/settings.ts';
import { clientAddress, parseTrustedProxies, trustedPeerCheck } from '../../../src/trusted-proxies.ts';
import { configErrorOf } from '../../helpers/config-error.ts';

describe('token.place settings', () => {
  it('read relay.py’s variable names', () => {
    const { tokenplace } = loadConfig({
      TOKEN_PLACE_RELAY_SERVER_TOKEN: ' a ',
      TOKEN_PLACE_RELAY_SERVER_TOKENS: 'b, ,c\nd',
      TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: '2.5',
      TOKEN_PLACE_API_V1_RELAY_SERVER_LEASE_SECONDS: '45',
      TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: '8',
      TOKEN_PLACE_API_V1_REQUEST_DEADLINE_SECONDS: '120',
      TOKEN_PLACE_API_V1_CONTROL_TOMBSTONE_TTL_SECONDS: '30',
      API_RATE_LIMIT: '10 per minute',
      API_DAILY_QUOTA: 'off',
    });
    expect(tokenplace).toMatchObject({
      serverTokens: ['b', 'c', 'd', 'a'],
      pollWaitSeconds: 2.5,
      nodeLeaseSeconds: 45,
      inFlightTtlSeconds: 45,
      maxQueueDepth: 8,
      requestDeadlineSeconds: 120,
      tombstoneTtlSeconds: 30,
    });
    expect(tokenplace.publicRateLimits).toEqual([{ points: 10, durationSeconds: 60, text: '10 per minute' }]);
  });

  it.each([
    ['TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS', '61', 'at most 60'],
    ['TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS', 'soon', 'number of seconds'],
    ['TOKEN_PLACE_API_V1_REQUEST_DEADLINE_SECONDS', '0.5', 'at least 1'],
    ['TOKEN_PLACE_API_V1_CONTROL_TOMBSTONE_TTL_SECONDS', '301', 'at most 300'],
    ['TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE', '0', 'between 1 and'],
    ['API_RATE_LIMIT', '60/fortnight', 'N/hour'],
    ['API_RELAY_CONTROL_PLANE_IP_RATE_LIMIT', '0/hour', 'N/hour'],
    ['TOKENPLACE_RELAY_TRUSTED_PROXIES', '10.0.0.0/8, nonsense', 'not a CIDR'],
    ['TOKENPLACE_RELAY_OPEN_REGISTRATION', 'maybe', 'true or false'],
  ])('refuse %s=%s with a message naming the variable', (variable, value, problem) => {
    const error = configErrorOf({ [variable]: value });
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(problem);
  });

  it('parse rate limits in relay.py’s notation', () => {
    expect(parseRateLimit('X', '1200/hour')).toEqual({ points: 1200, durationSeconds: 3600, text: '1200/hour' });
    expect(parseRateLimit('X', '5/seconds')?.durationSeconds).toBe(1);
    expect(parseRateLimit('X', 'OFF')).toBeUndefined();
  });
});

describe('clientAddress', () => {
  const proxies = ['127.0.0.0/8', '10.0.0.0/8'].map((text) => parseCidr(text) as CidrRange);

  it('believes X-Forwarded-For only from a trusted proxy, taking the rightmost untrusted hop', () => {
    expect(clientAddress('10.42.0.5', '198.51.100.7, 10.42.0.9', proxies, true)).toBe('198.51.100.7');
    expect(clientAddress('10.42.0.5', '6.6.6.6, 198.51.100.7', proxies, true)).toBe('198.51.100.7');
    expect(clientAddress('203.0.113.1', '198.51.100.7', proxies, true)).toBe('203.0.113.1');
    expect(clientAddress('10.42.0.5', '198.51.100.7', proxies, false)).toBe('10.42.0.5');
    expect(clientAddress('10.42.0.5', null, proxies, true)).toBe('10.42.0.5');
  });

  it('falls back to the socket peer when a hop is not an address, and to the leftmost when all hops are trusted', () => {
    expect(clientAddress('10.42.0.5', 'garbage, 10.0.0.1', proxies, true)).toBe('10.42.0.5');
    expect(clientAddress('10.42.0.5', '198.51.100.7, not-an-ip', proxies, true)).toBe('10.42.0.5');
    expect(clientAddress('127.0.0.1', '10.0.0.1, 10.0.0.2', proxies, true)).toBe('10.0.0.1');
    expect(clientAddress('::ffff:127.0.0.1', '[2001:db8::1]', proxies, true)).toBe('[2001:db8::1]');
  });
});

describe('trusted proxies (TOKENPLACE_RELAY_TRUSTED_PROXIES)', () => {
  it('default to loopback and private ranges; "none" trusts nobody; bare addresses are single-address ranges', () => {
    const byDefault = trustedPeerCheck(parseTrustedProxies(undefined));
    expect(['127.0.0.1', '::1', '10.42.0.7', '192.168.1.2', '::ffff:10.0.0.1'].map(byDefault)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['203.0.113.9', '2001:db8::1', undefined].map(byDefault)).toEqual([false, false, false]);
    expect(trustedPeerCheck(parseTrustedProxies('none'))('127.0.0.1')).toBe(false);
    const listed = trustedPeerCheck(parseTrustedProxies('10.42.0.0/16, 192.0.2.1'));
    expect(['10.42.3.4', '192.0.2.1', '192.0.2.2', '10.43.0.1'].map(listed)).toEqual([true, true, false, false]);
  });

  it('keeps answering the same once its cache is full', () => {
    const check = trustedPeerCheck(parseTrustedProxies('10.0.0.0/8'), 2);
    for (let i = 0; i < 5; i++) expect([check(`10.0.0.${i}`), check(`11.0.0.${i}`)]).toEqual([true, false]);
  });
});
