import { describe, expect, it } from 'vitest';
import { CorsPolicy, parseCorsOrigins } from '../../src/cors.ts';

const preflightRequest = (origin: string, method = 'POST', headers?: string) =>
  new Request('http://relay/v1/chat', {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': method,
      ...(headers ? { 'access-control-request-headers': headers } : {}),
    },
  });

describe('parseCorsOrigins', () => {
  it('reads exact origins, *, or nothing', () => {
    expect(parseCorsOrigins('')).toBeUndefined();
    expect(parseCorsOrigins('*')).toBe('*');
    expect([...(parseCorsOrigins('https://a.example, http://localhost:3000') as Set<string>)]).toEqual([
      'https://a.example',
      'http://localhost:3000',
    ]);
  });

  it.each(['https://a.example/', 'https://A.example', 'https://a.example:443', 'a.example', 'null'])('refuses %j', (entry) => {
    expect(() => parseCorsOrigins(entry)).toThrow();
  });
});

describe('CorsPolicy', () => {
  const exact = new CorsPolicy({ origins: new Set(['https://app.example']), credentials: true });
  const any = new CorsPolicy({ origins: '*', credentials: false });

  it('recognizes a preflight only by OPTIONS + Origin + Access-Control-Request-Method', () => {
    expect(CorsPolicy.isPreflight(preflightRequest('https://app.example'))).toBe(true);
    expect(CorsPolicy.isPreflight(new Request('http://relay/', { method: 'OPTIONS' }))).toBe(false);
    expect(CorsPolicy.isPreflight(new Request('http://relay/', { method: 'OPTIONS', headers: { origin: 'https://x' } }))).toBe(
      false,
    );
  });

  it('answers an allowed preflight with the origin, methods, reflected headers, credentials and Vary', () => {
    const answer = exact.preflight(preflightRequest('https://app.example', 'POST', 'content-type, authorization'));
    expect(answer).toEqual({
      allowed: true,
      headers: {
        vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
        'access-control-allow-origin': 'https://app.example',
        'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
        'access-control-allow-headers': 'content-type, authorization',
        'access-control-allow-credentials': 'true',
        'access-control-max-age': '600',
      },
    });
  });

  it('refuses a preflight from another origin, or for a method it does not allow, and never reflects junk headers', () => {
    expect(exact.preflight(preflightRequest('https://evil.example')).allowed).toBe(false);
    expect(exact.preflight(preflightRequest('https://app.example', 'TRACE')).allowed).toBe(false);
    const odd = exact.preflight(preflightRequest('https://app.example', 'GET', 'x-a, bad header'));
    expect(odd.allowed && odd.headers['access-control-allow-headers']).toBeUndefined();
  });

  it('with * answers any origin with * and no credentials', () => {
    const answer = any.preflight(preflightRequest('https://anyone.example'));
    expect(answer.allowed && answer.headers['access-control-allow-origin']).toBe('*');
    expect(answer.allowed && answer.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('sets the allow headers on a response to an allowed origin, replacing what the upstream said', () => {
    const headers = new Headers({ vary: 'accept-encoding', 'access-control-allow-origin': '*' });
    exact.apply(headers, 'https://app.example');
    expect(headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(headers.get('access-control-allow-credentials')).toBe('true');
    expect(headers.get('access-control-expose-headers')).toBe('x-request-id, retry-after');
    expect(headers.get('vary')).toBe('accept-encoding, Origin');
  });

  it('strips upstream CORS grants for an origin that is not allowed, and always varies on Origin', () => {
    const headers = new Headers({ 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' });
    exact.apply(headers, 'https://evil.example');
    expect(headers.has('access-control-allow-origin')).toBe(false);
    expect(headers.has('access-control-allow-credentials')).toBe(false);
    expect(headers.get('vary')).toBe('Origin');
    const noOrigin = new Headers({ vary: 'Origin' });
    exact.apply(noOrigin, null);
    expect(noOrigin.get('vary')).toBe('Origin');
  });
});
