import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig, publicUpstream } from '../../src/config.ts';
import { configErrorOf as errorOf } from '../helpers/config-error.ts';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.host).toBe('0.0.0.0');
    expect(config.port).toBe(5010);
    expect(config.upstreamUrl).toBeUndefined();
    expect(config.serverToken).toBeUndefined();
    expect(config.tokenplace).toMatchObject({
      serverTokens: [],
      openRegistration: false,
      pollWaitSeconds: 10,
      nodeLeaseSeconds: 30,
      inFlightTtlSeconds: 30,
      requestDeadlineSeconds: 480,
      tombstoneTtlSeconds: 60,
    });
    expect(config.tokenplace.publicRateLimits.map((rule) => rule.text)).toEqual(['60/hour', '1000/day']);
    expect(config.drainSeconds).toBe(5);
    expect(config.shutdownTimeoutSeconds).toBe(20);
    expect(config.maxBodyBytes).toBe(10 * 1024 * 1024);
    expect(config.trustForwardedHeaders).toBe(true);
    expect(config.logLevel).toBe('info');
  });

  it('reads every setting', () => {
    const config = loadConfig({
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: '8080',
      TOKENPLACE_RELAY_UPSTREAM_URL: 'https://gpu.lan:9443/api',
      TOKEN_PLACE_RELAY_SERVER_TOKEN: 's3cret',
      TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS: '250',
      TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS: '1000',
      TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS: '2000',
      TOKENPLACE_RELAY_DRAIN_SECONDS: '0.5',
      TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS: '30',
      TOKENPLACE_RELAY_MAX_BODY_BYTES: '1024',
      TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS: 'false',
      TOKENPLACE_RELAY_LOG_LEVEL: 'DEBUG',
    });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      serverToken: 's3cret',
      upstreamConnectTimeoutMs: 250,
      upstreamHeadersTimeoutMs: 1000,
      upstreamIdleTimeoutMs: 2000,
      drainSeconds: 0.5,
      shutdownTimeoutSeconds: 30,
      maxBodyBytes: 1024,
      trustForwardedHeaders: false,
      logLevel: 'debug',
    });
    expect(config.upstreamUrl?.href).toBe('https://gpu.lan:9443/api');
  });

  it('builds the upstream from TOKENPLACE_GPU_HOST and TOKENPLACE_GPU_PORT when no URL is set', () => {
    expect(loadConfig({ TOKENPLACE_GPU_HOST: '192.168.1.50', TOKENPLACE_GPU_PORT: '8001' }).upstreamUrl?.href).toBe(
      'http://192.168.1.50:8001/',
    );
    expect(loadConfig({ TOKENPLACE_GPU_HOST: 'gpu.local' }).upstreamUrl?.href).toBe('http://gpu.local:8000/');
  });

  it('prefers the explicit URL over host and port', () => {
    const config = loadConfig({
      TOKENPLACE_RELAY_UPSTREAM_URL: 'http://a:1',
      TOKENPLACE_GPU_HOST: 'b',
      TOKENPLACE_GPU_PORT: '2',
    });
    expect(config.upstreamUrl?.href).toBe('http://a:1/');
  });

  it.each([
    [{ RELAY_PORT: 'abc' }, 'RELAY_PORT', 'whole number'],
    [{ RELAY_PORT: '70000' }, 'RELAY_PORT', 'between 1 and 65535'],
    [{ RELAY_PORT: '0' }, 'RELAY_PORT', 'between 1 and 65535'],
    [{ TOKENPLACE_RELAY_UPSTREAM_URL: 'gpu-server:8000' }, 'TOKENPLACE_RELAY_UPSTREAM_URL', 'absolute http'],
    [{ TOKENPLACE_RELAY_UPSTREAM_URL: 'ftp://gpu-server' }, 'TOKENPLACE_RELAY_UPSTREAM_URL', 'http or https'],
    [{ TOKENPLACE_RELAY_UPSTREAM_URL: 'http://user:pw@gpu' }, 'TOKENPLACE_RELAY_UPSTREAM_URL', 'credentials'],
    [{ TOKENPLACE_RELAY_UPSTREAM_URL: 'http://gpu/?a=1' }, 'TOKENPLACE_RELAY_UPSTREAM_URL', 'query'],
    [{ TOKENPLACE_RELAY_UPSTREAM_URL: 'http://gpu:99999' }, 'TOKENPLACE_RELAY_UPSTREAM_URL', 'not a valid URL'],
    [{ TOKENPLACE_GPU_PORT: '9000' }, 'TOKENPLACE_GPU_HOST', 'must be set'],
    [{ TOKENPLACE_GPU_HOST: 'evil.com/path' }, 'TOKENPLACE_GPU_HOST', 'host name'],
    [{ TOKENPLACE_GPU_HOST: 'gpu', TOKENPLACE_GPU_PORT: 'x' }, 'TOKENPLACE_GPU_PORT', 'whole number'],
    [{ TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS: '-5' }, 'TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS', 'between'],
    [{ TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS: '1.5' }, 'TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS', 'whole number'],
    [{ TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS: '0' }, 'TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS', 'between'],
    [{ TOKENPLACE_RELAY_DRAIN_SECONDS: '-1' }, 'TOKENPLACE_RELAY_DRAIN_SECONDS', 'must not be negative'],
    [{ TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS: 'soon' }, 'TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS', 'seconds'],
    [{ TOKENPLACE_RELAY_MAX_BODY_BYTES: '10MB' }, 'TOKENPLACE_RELAY_MAX_BODY_BYTES', 'whole number'],
    [{ TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS: 'maybe' }, 'TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS', 'true or false'],
    [{ TOKENPLACE_RELAY_LOG_LEVEL: 'loud' }, 'TOKENPLACE_RELAY_LOG_LEVEL', 'one of'],
    [{ TOKENPLACE_RELAY_METRICS_PORT: '0' }, 'TOKENPLACE_RELAY_METRICS_PORT', 'between'],
    [
      { RELAY_PORT: '9090', TOKENPLACE_RELAY_METRICS_PORT: '9090' },
      'TOKENPLACE_RELAY_METRICS_PORT',
      'must differ from RELAY_PORT',
    ],
    [{ TOKENPLACE_RELAY_METRICS_PORT: '5010' }, 'TOKENPLACE_RELAY_METRICS_PORT', 'must differ from RELAY_PORT'],
  ])('rejects %j naming %s', (env, variable, problem) => {
    const error = errorOf(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).toContain(problem);
    expect(error.message).not.toContain('\n');
  });

  it('treats blank values as unset', () => {
    expect(loadConfig({ RELAY_PORT: '  ', TOKEN_PLACE_RELAY_SERVER_TOKEN: '' })).toMatchObject({
      port: 5010,
      serverToken: undefined,
    });
  });
});

describe('describeConfig', () => {
  it('never includes the server token', () => {
    const described = JSON.stringify(describeConfig(loadConfig({ TOKEN_PLACE_RELAY_SERVER_TOKEN: 'hunter2' })));
    expect(described).not.toContain('hunter2');
    expect(described).toContain('"serverTokenConfigured":true');
  });

  it('shows the upstream without a trailing slash', () => {
    expect(publicUpstream(new URL('http://gpu-server:8000'))).toBe('http://gpu-server:8000');
    expect(publicUpstream(new URL('https://gpu/api'))).toBe('https://gpu/api');
  });
});
