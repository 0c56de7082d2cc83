import { describe, expect, it } from 'vitest';
import { type CidrRange, type IpAddress, inRange, parseCidr, parseIp } from '../../src/cidr.ts';
import { checkNodeUrl, parseAllowedUpstreams } from '../../src/upstream-policy.ts';

describe('parseIp', () => {
  it('parses IPv4 and IPv6, and treats IPv4-mapped IPv6 as IPv4', () => {
    expect(parseIp('10.0.0.7')).toEqual({ version: 4, value: 0x0a000007n });
    expect(parseIp('::1')).toEqual({ version: 6, value: 1n });
    expect(parseIp('[fd00::7]')).toEqual({ version: 6, value: (0xfd00n << 112n) | 7n });
    expect(parseIp('::ffff:127.0.0.1')).toEqual({ version: 4, value: 0x7f000001n });
    expect(parseIp('::ffff:7f00:1')).toEqual({ version: 4, value: 0x7f000001n });
    expect(parseIp('1:2:3:4:5:6:7:8')?.version).toBe(6);
  });

  it.each(['256.0.0.1', '1.2.3', '01.2.3.4', 'gpu', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', ''])('rejects %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('parseCidr and inRange', () => {
  it('matches addresses inside the range only', () => {
    const range = parseCidr('192.168.4.0/22') as CidrRange;
    const ip = (text: string) => parseIp(text) as IpAddress;
    expect(range).toBeDefined();
    expect(inRange(ip('192.168.7.255'), range)).toBe(true);
    expect(inRange(ip('192.168.8.0'), range)).toBe(false);
    expect(inRange(ip('fd00::1'), range)).toBe(false);
  });

  it('treats a bare address as a single-address range and clears host bits', () => {
    expect(parseCidr('10.0.0.7')).toEqual({ version: 4, network: 0x0a000007n, prefix: 32 });
    expect(parseCidr('10.9.9.9/8')).toEqual({ version: 4, network: 0x0a000000n, prefix: 8 });
    expect(parseCidr('::/0')).toEqual({ version: 6, network: 0n, prefix: 0 });
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ version: 4, network: 0x0a000000n, prefix: 8 });
  });

  it.each(['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', 'fd00::/129', 'x/8'])('rejects %j', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });
});

describe('checkNodeUrl', () => {
  const privateOnly = parseAllowedUpstreams('');
  const listed = parseAllowedUpstreams('127.0.0.0/8, gpu.home.arpa, *.lan');

  it('with an empty list allows private-range addresses only', () => {
    for (const url of ['http://10.0.0.7:8000', 'https://172.20.1.1', 'http://192.168.1.50:8000/base', 'http://[fd12::5]:8000']) {
      expect(checkNodeUrl(url, privateOnly), url).toMatchObject({ ok: true });
    }
    for (const url of ['http://127.0.0.1:8000', 'http://8.8.8.8', 'http://[::1]:8000']) {
      const result = checkNodeUrl(url, privateOnly);
      expect(result.ok, url).toBe(false);
      expect(result.ok === false && result.reason).toContain('not a private-range address');
    }
    expect(checkNodeUrl('http://gpu.home.arpa:8000', privateOnly)).toEqual({
      ok: false,
      reason: 'host names may register only when listed in TOKENPLACE_RELAY_ALLOWED_UPSTREAMS; gpu.home.arpa is not',
    });
  });

  it('sees through alternative spellings of an address (the URL parser normalizes them)', () => {
    for (const url of ['http://2130706433:8000', 'http://0x7f.1', 'http://[::ffff:127.0.0.1]', 'http://127.1']) {
      expect(checkNodeUrl(url, privateOnly).ok, url).toBe(false);
      expect(checkNodeUrl(url, listed).ok, url).toBe(true);
    }
    expect(checkNodeUrl('http://0xa.0.0.7', privateOnly).ok).toBe(true);
  });

  it('with a list allows its CIDRs and host names, subdomains for *.name', () => {
    expect(checkNodeUrl('http://127.0.0.1:9000', listed).ok).toBe(true);
    expect(checkNodeUrl('http://GPU.home.arpa:8000', listed).ok).toBe(true);
    expect(checkNodeUrl('http://box1.lan', listed).ok).toBe(true);
    expect(checkNodeUrl('http://lan', listed).ok).toBe(false);
    expect(checkNodeUrl('http://evil.example', listed)).toEqual({
      ok: false,
      reason: 'evil.example is not a host name listed in TOKENPLACE_RELAY_ALLOWED_UPSTREAMS',
    });
    expect(checkNodeUrl('http://10.0.0.7', listed)).toEqual({
      ok: false,
      reason: '10.0.0.7 is not inside any CIDR of TOKENPLACE_RELAY_ALLOWED_UPSTREAMS',
    });
  });

  it('never allows unspecified, broadcast, multicast, link-local or cloud metadata addresses, even inside an allowed range', () => {
    const everything = parseAllowedUpstreams('0.0.0.0/0, ::/0');
    for (const url of [
      'http://0.0.0.0:8000',
      'http://255.255.255.255',
      'http://224.0.0.1',
      'http://[::]:80',
      'http://[ff02::1]',
      'http://169.254.169.254/latest',
      'http://[fd00:ec2::254]',
      'http://[fd20:ce::254]',
      'http://[fe80::1%25eth0]',
    ]) {
      expect(checkNodeUrl(url, everything).ok, url).toBe(false);
    }
    expect(checkNodeUrl('http://8.8.8.8', everything).ok).toBe(true);
  });

  it.each([
    [undefined, '"url" must be a non-empty string'],
    [42, '"url" must be a non-empty string'],
    ['10.0.0.7:8000', 'absolute http:// or https:// URL'],
    ['ftp://10.0.0.7', 'absolute http:// or https:// URL'],
    ['http://user:pw@10.0.0.7:8000', 'must not carry credentials'],
    ['http://token@10.0.0.7:8000', 'must not carry credentials'],
    ['http://10.0.0.7:8000/?next=1', 'must not have a query string'],
    ['http://10.0.0.7:8000/#x', 'must not have a query string or fragment'],
    ['http://10.0.0.7:99999', 'not a valid URL'],
    [`http://10.0.0.7/${'a'.repeat(2100)}`, 'longer than 2048'],
  ])('refuses %j: %s', (url, reason) => {
    const result = checkNodeUrl(url, privateOnly);
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toContain(reason);
  });
});
