/** The settings added for admission control, registration, limits, CORS and the metrics token. */
import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../src/config.ts';
import { configErrorOf as errorOf } from '../helpers/config-error.ts';

describe('defaults', () => {
  it('limits each upstream member to 4, queues 64 for 30 s, allows private ranges only, no CORS, open metrics', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      upstreamMaxConcurrency: 4,
      queueLength: 64,
      queueTimeoutMs: 30_000,
      serverLeaseSeconds: 30,
      ejectAfterFailures: 3,
      ejectBackoffMs: 5000,
      clientHeadersTimeoutMs: 10_000,
      clientRequestTimeoutMs: 60_000,
      maxConnections: undefined,
      cors: undefined,
      metricsToken: undefined,
    });
    expect(config.allowedUpstreams.entries).toEqual([]);
  });
});

describe('reading the settings', () => {
  it('reads every new setting', () => {
    const config = loadConfig({
      TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '2',
      TOKENPLACE_RELAY_QUEUE_LENGTH: '0',
      TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '1500',
      TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '10.1.0.0/16, gpu.home.arpa *.lan fd00::/8',
      TOKENPLACE_RELAY_SERVER_LEASE_SECONDS: '5',
      TOKENPLACE_RELAY_UPSTREAM_EJECT_AFTER: '1',
      TOKENPLACE_RELAY_UPSTREAM_EJECT_BACKOFF_MS: '250',
      TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS: '2000',
      TOKENPLACE_RELAY_CLIENT_REQUEST_TIMEOUT_MS: '2000',
      TOKENPLACE_RELAY_MAX_CONNECTIONS: '300',
      TOKENPLACE_RELAY_CORS_ORIGINS: 'https://app.example.org,http://localhost:3000',
      TOKENPLACE_RELAY_CORS_CREDENTIALS: 'true',
      TOKENPLACE_METRICS_TOKEN: 'scrape-me',
    });
    expect(config).toMatchObject({
      upstreamMaxConcurrency: 2,
      queueLength: 0,
      queueTimeoutMs: 1500,
      serverLeaseSeconds: 5,
      ejectAfterFailures: 1,
      ejectBackoffMs: 250,
      clientHeadersTimeoutMs: 2000,
      clientRequestTimeoutMs: 2000,
      maxConnections: 300,
      metricsToken: 'scrape-me',
    });
    expect(config.allowedUpstreams.entries).toEqual(['10.1.0.0/16', 'gpu.home.arpa', '*.lan', 'fd00::/8']);
    expect(config.cors?.credentials).toBe(true);
    expect([...((config.cors?.origins ?? []) as Set<string>)]).toEqual(['https://app.example.org', 'http://localhost:3000']);
  });

  it('accepts 0 (no limit) for the concurrency and "auto" for the connection cap', () => {
    expect(loadConfig({ TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '0' }).upstreamMaxConcurrency).toBe(0);
    expect(loadConfig({ TOKENPLACE_RELAY_MAX_CONNECTIONS: 'auto' }).maxConnections).toBeUndefined();
  });

  it('accepts * for CORS without credentials', () => {
    expect(loadConfig({ TOKENPLACE_RELAY_CORS_ORIGINS: '*' }).cors).toEqual({ origins: '*', credentials: false });
  });

  it.each([
    [{ TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '-1' }, 'TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY', 'between 0'],
    [{ TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: 'four' }, 'TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY', 'whole number'],
    [{ TOKENPLACE_RELAY_QUEUE_LENGTH: '1e3' }, 'TOKENPLACE_RELAY_QUEUE_LENGTH', 'whole number'],
    [{ TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS: '0' }, 'TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS', 'between 1'],
    [{ TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '10.0.0.0/33' }, 'TOKENPLACE_RELAY_ALLOWED_UPSTREAMS', '"10.0.0.0/33"'],
    [
      { TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: 'http://gpu' },
      'TOKENPLACE_RELAY_ALLOWED_UPSTREAMS',
      'neither a CIDR nor a host name',
    ],
    [{ TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: 'gpu_box' }, 'TOKENPLACE_RELAY_ALLOWED_UPSTREAMS', 'neither a CIDR nor a host name'],
    [{ TOKENPLACE_RELAY_SERVER_LEASE_SECONDS: '0' }, 'TOKENPLACE_RELAY_SERVER_LEASE_SECONDS', 'between 1'],
    [{ TOKENPLACE_RELAY_UPSTREAM_EJECT_AFTER: '0' }, 'TOKENPLACE_RELAY_UPSTREAM_EJECT_AFTER', 'between 1'],
    [{ TOKENPLACE_RELAY_UPSTREAM_EJECT_BACKOFF_MS: 'x' }, 'TOKENPLACE_RELAY_UPSTREAM_EJECT_BACKOFF_MS', 'whole number'],
    [{ TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS: '0' }, 'TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS', 'between 1'],
    [
      { TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS: '5000', TOKENPLACE_RELAY_CLIENT_REQUEST_TIMEOUT_MS: '4000' },
      'TOKENPLACE_RELAY_CLIENT_REQUEST_TIMEOUT_MS',
      'must be at least TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS (5000)',
    ],
    [{ TOKENPLACE_RELAY_MAX_CONNECTIONS: '0' }, 'TOKENPLACE_RELAY_MAX_CONNECTIONS', 'between 1'],
    [{ TOKENPLACE_RELAY_MAX_CONNECTIONS: 'lots' }, 'TOKENPLACE_RELAY_MAX_CONNECTIONS', 'whole number'],
    [
      { TOKENPLACE_RELAY_CORS_ORIGINS: 'https://app.example.org/' },
      'TOKENPLACE_RELAY_CORS_ORIGINS',
      'write it as https://app.example.org',
    ],
    [{ TOKENPLACE_RELAY_CORS_ORIGINS: 'app.example.org' }, 'TOKENPLACE_RELAY_CORS_ORIGINS', 'not an http(s) origin'],
    [{ TOKENPLACE_RELAY_CORS_ORIGINS: '*,https://a.example' }, 'TOKENPLACE_RELAY_CORS_ORIGINS', 'cannot be combined'],
    [
      { TOKENPLACE_RELAY_CORS_ORIGINS: '*', TOKENPLACE_RELAY_CORS_CREDENTIALS: 'true' },
      'TOKENPLACE_RELAY_CORS_ORIGINS',
      'cannot be used with TOKENPLACE_RELAY_CORS_CREDENTIALS=true',
    ],
    [{ TOKENPLACE_RELAY_CORS_CREDENTIALS: 'sometimes' }, 'TOKENPLACE_RELAY_CORS_CREDENTIALS', 'true or false'],
  ])('rejects %j naming %s', (env, variable, problem) => {
    const error = errorOf(env as Record<string, string>);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).toContain(problem);
    expect(error.message).not.toContain('\n');
  });
});

describe('describeConfig', () => {
  it('masks the metrics token and shows lists readably', () => {
    const described = describeConfig(
      loadConfig({
        TOKENPLACE_METRICS_TOKEN: 'scrape-secret',
        TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '10.0.0.0/8',
        TOKENPLACE_RELAY_CORS_ORIGINS: 'https://app.example.org',
      }),
    );
    const text = JSON.stringify(described);
    expect(text).not.toContain('scrape-secret');
    expect(described).toMatchObject({
      metricsTokenConfigured: true,
      allowedUpstreams: ['10.0.0.0/8'],
      cors: { origins: ['https://app.example.org'], credentials: false },
    });
    expect(describeConfig(loadConfig({})).allowedUpstreams).toBe('private ranges');
  });
});
