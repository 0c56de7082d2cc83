import { describe, expect, it } from 'vitest';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../../src/headers.ts';
import { redactQuery } from '../../src/redact.ts';
import { requestIdFor } from '../../src/request-id.ts';
import { pathAndQuery, pathnameOf, queryOf, upstreamTarget } from '../../src/target.ts';

const facts = {
  clientAddress: '10.42.0.7',
  protocol: 'http',
  host: 'relay.example.org',
  requestId: 'req-1',
  trustForwardedHeaders: true,
};

describe('upstreamRequestHeaders', () => {
  it('drops hop-by-hop headers, the headers Connection names, and the relay token', () => {
    const incoming = new Headers({
      connection: 'keep-alive, X-Session-Hop',
      'x-session-hop': 'a',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      host: 'relay.example.org',
      expect: '100-continue',
      'x-relay-server-token': 'secret',
      'content-type': 'application/json',
      authorization: 'Bearer abc',
    });
    const out = upstreamRequestHeaders(incoming, facts);
    expect(Object.keys(out).sort()).toEqual(
      ['authorization', 'content-type', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id'].sort(),
    );
    expect(out.authorization).toBe('Bearer abc');
  });

  it('extends a trusted X-Forwarded chain', () => {
    const incoming = new Headers({
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'token.place',
      'x-request-id': 'client-chosen',
    });
    const out = upstreamRequestHeaders(incoming, facts);
    expect(out['x-forwarded-for']).toBe('203.0.113.9, 10.42.0.7');
    expect(out['x-forwarded-proto']).toBe('https');
    expect(out['x-forwarded-host']).toBe('token.place');
    expect(out['x-request-id']).toBe('req-1');
  });

  it('replaces forwarded headers when they are not trusted', () => {
    const incoming = new Headers({ 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'spoofed' });
    const out = upstreamRequestHeaders(incoming, { ...facts, trustForwardedHeaders: false });
    expect(out['x-forwarded-for']).toBe('10.42.0.7');
    expect(out['x-forwarded-proto']).toBe('http');
    expect(out['x-forwarded-host']).toBe('relay.example.org');
  });
  it('gives the same headers from the record the runtime parsed as from the Request headers', () => {
    const record: Record<string, string | string[]> = {
      host: 'relay.example.org',
      connection: 'keep-alive, x-hop',
      'x-hop': 'dropped',
      'keep-alive': 'timeout=5',
      'x-relay-server-token': 'secret',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      forwarded: 'for=203.0.113.9',
      accept: 'text/event-stream',
      'user-agent': 'test',
    };
    for (const trustForwardedHeaders of [true, false]) {
      const options = { ...facts, trustForwardedHeaders };
      const fromRecord = upstreamRequestHeaders(record, options);
      const fromHeaders = upstreamRequestHeaders(new Headers(record as Record<string, string>), options);
      expect(fromRecord).toEqual(fromHeaders);
      expect(Object.keys(fromRecord).sort()).toEqual(
        [
          'accept',
          'user-agent',
          'x-forwarded-for',
          'x-forwarded-host',
          'x-forwarded-proto',
          'x-request-id',
          ...(trustForwardedHeaders ? ['forwarded'] : []),
        ].sort(),
      );
    }
  });
});

describe('downstreamResponseHeaders', () => {
  it('keeps end-to-end headers including every set-cookie and content-encoding, drops hop-by-hop', () => {
    const out = downstreamResponseHeaders(
      {
        connection: 'close, x-internal',
        'x-internal': 'yes',
        'keep-alive': 'timeout=2',
        'transfer-encoding': 'chunked',
        trailer: 'x-sum',
        upgrade: 'websocket',
        'proxy-connection': 'close',
        'content-encoding': 'gzip',
        'content-length': '120',
        'set-cookie': ['a=1', 'b=2'],
      },
      'req-9',
    );
    expect(out).toEqual({
      'content-encoding': 'gzip',
      'content-length': '120',
      'set-cookie': ['a=1', 'b=2'],
      'x-request-id': 'req-9',
    });
  });
});

describe('upstreamTarget', () => {
  const upstream = new URL('http://gpu-server:8000');
  it.each([
    ['http://relay/v1/chat?stream=1', '/v1/chat?stream=1'],
    ['http://relay//evil.example/x', '//evil.example/x'],
    ['http://relay/a/../../etc/passwd', '/etc/passwd'],
    ['http://relay/%2e%2e/%2e%2e/x', '/x'],
    ['http://relay/@evil.example', '/@evil.example'],
  ])('keeps %s on the upstream as %s', (requestUrl, path) => {
    const target = upstreamTarget(upstream, requestUrl);
    expect(target.origin).toBe('http://gpu-server:8000');
    expect(target.path).toBe(path);
    expect(new URL(target.origin + target.path).host).toBe('gpu-server:8000');
  });

  it('prefixes the upstream base path and cannot climb out of it', () => {
    const base = new URL('http://gpu:9000/api/');
    expect(upstreamTarget(base, 'http://relay/../../admin').path).toBe('/api/admin');
    expect(upstreamTarget(new URL('http://gpu:9000/api'), 'http://relay/v1').path).toBe('/api/v1');
  });
});

describe('requestIdFor', () => {
  it('keeps a well-formed client id and replaces anything else', () => {
    expect(requestIdFor('abc-123', () => 'gen')).toBe('abc-123');
    expect(requestIdFor(null, () => 'gen')).toBe('gen');
    expect(requestIdFor('has space', () => 'gen')).toBe('gen');
    expect(requestIdFor('x'.repeat(200), () => 'gen')).toBe('gen');
    expect(requestIdFor('line\nbreak', () => 'gen')).toBe('gen');
  });
});

describe('redactQuery', () => {
  it('masks values of secret-looking parameters only', () => {
    expect(redactQuery('?token=abc&model=llama&api_key=k&Signature=s')).toBe('?token=***&model=llama&api_key=***&Signature=***');
    expect(redactQuery('')).toBe('');
  });
});

describe('pathAndQuery', () => {
  const viaUrl = (href: string) => {
    const url = new URL(href);
    return { pathname: url.pathname, search: url.search };
  };

  it.each([
    'http://relay/v1/chat/completions',
    'https://relay:8443/v1/models?x=1&y=%20z',
    'http://relay/',
    'http://relay/?',
    'http://relay/a?b?c=/d',
    'http://relay/a/./b/%2E%2e/c',
    'http://relay/a%2e/b',
    "http://relay/q?quote='x'&lt=<",
    'http://relay/sp ace/"q"/{b}/`t`/<a>',
    'http://relay/caf\u00e9/\u4e2d?\u00e9=1',
    'http://relay/a#frag',
    'http://relay/a\\b',
    'http://relay/[x]|^_~!$&()*+,;=:@',
    'http://relay',
    'http://relay?x/y',
    'http://relay#x/y',
    'http://relay\\x/y',
    'http://user@relay/y?z',
    'http://[::1]:8080/y',
    'http://relay/a?b#c?d',
  ])('gives what URL parsing gives for %s', (href) => {
    expect(pathAndQuery(href)).toEqual(viaUrl(href));
  });

  it('gives what URL parsing gives for random request targets', () => {
    const alphabet = [
      ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)),
      '%2e',
      '%2E',
      '/.',
      '\u00e9',
      '\t',
      '%',
    ];
    const origins = ['http://relay', 'https://relay:8443', 'http://relay?q', 'http://relay#f', 'http://r\\x', 'http://u@relay'];
    let seed = 1;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const differing: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      let target = '/';
      for (let length = random(12); length > 0; length--) target += alphabet[random(alphabet.length)];
      const href = `${origins[random(origins.length)]}${target}`;
      if (JSON.stringify(pathAndQuery(href)) !== JSON.stringify(viaUrl(href))) differing.push(href);
    }
    expect(differing).toEqual([]);
  });

  it('throws where URL parsing throws: a host that does not parse is never split', () => {
    for (const href of ['http://relay:99999/x', 'http://[zz]/x', 'http://re lay/x']) {
      expect(() => new URL(href)).toThrow();
      expect(() => pathAndQuery(href)).toThrow();
    }
  });
});

describe('pathnameOf and queryOf', () => {
  it.each([
    ['http://relay/a/./b?c=1#d', '/a/./b', '?c=1'],
    ['http://relay/a#b?c', '/a', ''],
    ['http://relay/?', '/', '?'],
    ['http://relay', '/', ''],
  ])('split %s as written, without resolving it', (href, path, query) => {
    expect(pathnameOf(href)).toBe(path);
    expect(queryOf(href)).toBe(query);
  });
});
