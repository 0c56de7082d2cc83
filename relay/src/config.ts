/**
 * Relay configuration, read once from environment variables and validated.
 * Every problem is reported as a ConfigError whose message names the variable.
 */
import { type CorsConfig, parseCorsOrigins } from './cors.ts';
import { boolean, ConfigError, type Env, integer, port, raw, type Setting, seconds, timeoutMs } from './settings-parse.ts';
import { loadTokenPlaceConfig, TOKENPLACE_SETTINGS, type TokenPlaceConfig } from './tokenplace/settings.ts';
import { type AllowedUpstreams, parseAllowedUpstreams } from './upstream-policy.ts';

export { ConfigError, type Env } from './settings-parse.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface RelayConfig {
  host: string;
  port: number;
  /**
   * The HTTP GPU server every path the relay does not answer itself is forwarded to; undefined
   * turns forwarding off. Never derived from the incoming request.
   */
  upstreamUrl: URL | undefined;
  serverToken: string | undefined;
  /** token.place's relay protocol (/api/v1/relay/*). */
  tokenplace: TokenPlaceConfig;
  upstreamConnectTimeoutMs: number;
  upstreamHeadersTimeoutMs: number;
  /** Longest silence allowed between two chunks of an upstream response body. */
  upstreamIdleTimeoutMs: number;
  drainSeconds: number;
  shutdownTimeoutSeconds: number;
  maxBodyBytes: number;
  /** Keep X-Forwarded-* headers set by the proxy in front (Traefik) instead of replacing them. */
  trustForwardedHeaders: boolean;
  logLevel: LogLevel;
  /** Requests in flight per upstream member unless the member says otherwise; 0 means no limit. */
  upstreamMaxConcurrency: number;
  /** Requests that may wait for a free upstream slot; 0 turns waiting off (excess gets 503 at once). */
  queueLength: number;
  queueTimeoutMs: number;
  /** What compute nodes may register with; empty means private-range addresses only. */
  allowedUpstreams: AllowedUpstreams;
  serverLeaseSeconds: number;
  /** Consecutive connect failures that eject a member from the pool. */
  ejectAfterFailures: number;
  /** First ejection period; it doubles with each ejection in a row, up to 60 s or this value if larger. */
  ejectBackoffMs: number;
  /** Time a client has to send the request head (slowloris guard). */
  clientHeadersTimeoutMs: number;
  /** Time a client has to send the whole request, head and body. */
  clientRequestTimeoutMs: number;
  /** Open client connections at most; undefined: the runtime derives it from the open-file limit. */
  maxConnections: number | undefined;
  /** Undefined when CORS is off (no origins configured). */
  cors: CorsConfig | undefined;
  /** Bearer token /metrics requires; undefined leaves /metrics open. */
  metricsToken: string | undefined;
}

/** The documented settings, in the order the README lists them. */
export const SETTINGS = {
  host: { name: 'RELAY_HOST', fallback: '0.0.0.0', describe: 'Address the relay listens on.' },
  port: { name: 'RELAY_PORT', fallback: 5010, describe: 'TCP port the relay listens on.' },
  upstreamUrl: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_URL',
    fallback: '',
    describe:
      'Base URL of an HTTP GPU server (OpenAI-compatible: llama.cpp, vLLM, Ollama) that every other path is forwarded to; empty: forwarding off, other paths answer 404.',
  },
  gpuHost: {
    name: 'TOKENPLACE_GPU_HOST',
    fallback: '',
    describe:
      'GPU host name or IP; with TOKENPLACE_GPU_PORT builds the upstream URL when TOKENPLACE_RELAY_UPSTREAM_URL is unset.',
  },
  gpuPort: { name: 'TOKENPLACE_GPU_PORT', fallback: 8000, describe: 'GPU host port used with TOKENPLACE_GPU_HOST.' },
  serverToken: {
    name: 'TOKEN_PLACE_RELAY_SERVER_TOKEN',
    fallback: '',
    describe:
      'Shared secret compute nodes send in X-Relay-Server-Token (token.place server.py reads the same variable). Never logged.',
  },
  ...TOKENPLACE_SETTINGS,
  upstreamConnectTimeoutMs: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS',
    fallback: 5000,
    describe: 'Time allowed to open a TCP (and TLS) connection to the upstream; then 504.',
  },
  upstreamHeadersTimeoutMs: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS',
    fallback: 120000,
    describe: 'Time allowed between sending the request and receiving the upstream response headers; then 504.',
  },
  upstreamIdleTimeoutMs: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS',
    fallback: 60000,
    describe: 'Longest gap between two chunks of a streamed upstream body; then the response is cut off.',
  },
  drainSeconds: {
    name: 'TOKENPLACE_RELAY_DRAIN_SECONDS',
    fallback: 5,
    describe: 'After SIGTERM: seconds the relay keeps serving while readiness reports 503.',
  },
  shutdownTimeoutSeconds: {
    name: 'TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS',
    fallback: 20,
    describe: 'After the drain: seconds requests in flight may take to finish before they are cut.',
  },
  maxBodyBytes: {
    name: 'TOKENPLACE_RELAY_MAX_BODY_BYTES',
    fallback: 10 * 1024 * 1024,
    describe: 'Largest request body forwarded; larger bodies get 413.',
  },
  trustForwardedHeaders: {
    name: 'TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS',
    fallback: true,
    describe: 'Keep X-Forwarded-Proto/-Host and extend X-Forwarded-For from the proxy in front (true) or replace them (false).',
  },
  logLevel: {
    name: 'TOKENPLACE_RELAY_LOG_LEVEL',
    fallback: 'info' as LogLevel,
    describe: 'pino level: fatal, error, warn, info, debug, trace or silent.',
  },
  upstreamMaxConcurrency: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY',
    fallback: 4,
    describe:
      'Requests in flight per upstream member (the static upstream, and registered nodes that send no maxConcurrency); 0 means no limit.',
  },
  queueLength: {
    name: 'TOKENPLACE_RELAY_QUEUE_LENGTH',
    fallback: 64,
    describe: 'Requests that may wait (FIFO) for a free upstream slot; when full, 503 with Retry-After. 0: no waiting.',
  },
  queueTimeoutMs: {
    name: 'TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS',
    fallback: 30000,
    describe: 'Longest wait in the queue; then 503 with Retry-After. The GPU host never sees a rejected request.',
  },
  allowedUpstreams: {
    name: 'TOKENPLACE_RELAY_ALLOWED_UPSTREAMS',
    fallback: '',
    describe:
      'CIDRs and host names (`*.example.org` for subdomains), comma separated, that compute nodes may register; empty: private-range IP addresses only.',
  },
  serverLeaseSeconds: {
    name: 'TOKENPLACE_RELAY_SERVER_LEASE_SECONDS',
    fallback: 30,
    describe: 'Lease of a registered compute node; it must re-register before the lease ends or it leaves the pool.',
  },
  ejectAfterFailures: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_EJECT_AFTER',
    fallback: 3,
    describe: 'Consecutive connect failures after which a pool member is ejected (passive health).',
  },
  ejectBackoffMs: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_EJECT_BACKOFF_MS',
    fallback: 5000,
    describe: 'First ejection period; doubles for each ejection in a row (at most 60 s, or this value if larger).',
  },
  clientHeadersTimeoutMs: {
    name: 'TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS',
    fallback: 10000,
    describe: 'Time a client has to send its request headers (slowloris guard); then 408 and the connection closes.',
  },
  clientRequestTimeoutMs: {
    name: 'TOKENPLACE_RELAY_CLIENT_REQUEST_TIMEOUT_MS',
    fallback: 60000,
    describe: 'Time a client has to send its whole request, body included; then 408. At least the headers timeout.',
  },
  maxConnections: {
    name: 'TOKENPLACE_RELAY_MAX_CONNECTIONS',
    fallback: 'derived from the open-file limit',
    describe: 'Open client connections at most; more are refused instead of failing with EMFILE. See "Connection cap" below.',
  },
  corsOrigins: {
    name: 'TOKENPLACE_RELAY_CORS_ORIGINS',
    fallback: '',
    describe:
      'Browser origins allowed by CORS, exact (`https://app.example.org`), comma separated, or `*`; empty: no CORS headers.',
  },
  corsCredentials: {
    name: 'TOKENPLACE_RELAY_CORS_CREDENTIALS',
    fallback: false,
    describe: 'Send Access-Control-Allow-Credentials: true to allowed origins; not allowed with `*`.',
  },
  metricsToken: {
    name: 'TOKENPLACE_METRICS_TOKEN',
    fallback: '',
    describe: 'When set, /metrics requires `Authorization: Bearer <token>`. Never logged.',
  },
} satisfies Record<string, Setting<unknown>>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseUpstreamUrl(name: string, value: string): URL {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new ConfigError(name, `expected an absolute http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `not a valid URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `scheme must be http or https, got ${url.protocol.slice(0, -1)}`);
  }
  if (url.username || url.password) {
    throw new ConfigError(name, 'must not carry credentials (user:password@)');
  }
  if (url.search || url.hash) {
    throw new ConfigError(name, 'must not have a query string or fragment');
  }
  return url;
}

function upstream(env: Env): URL | undefined {
  const { upstreamUrl, gpuHost, gpuPort } = SETTINGS;
  const explicit = raw(env, upstreamUrl.name);
  if (explicit !== undefined) return parseUpstreamUrl(upstreamUrl.name, explicit);
  const host = raw(env, gpuHost.name);
  if (host === undefined) {
    if (raw(env, gpuPort.name) !== undefined) {
      throw new ConfigError(gpuHost.name, `must be set when ${gpuPort.name} is set`);
    }
    return undefined;
  }
  if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host)) {
    throw new ConfigError(gpuHost.name, `expected a host name or IP address, got ${JSON.stringify(host)}`);
  }
  return parseUpstreamUrl(gpuHost.name, `http://${host}:${port(env, gpuPort)}`);
}

function allowedUpstreams(env: Env): AllowedUpstreams {
  const { name } = SETTINGS.allowedUpstreams;
  try {
    return parseAllowedUpstreams(raw(env, name) ?? '');
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

function maxConnections(env: Env): number | undefined {
  const { name } = SETTINGS.maxConnections;
  const value = raw(env, name);
  if (value === undefined || value.toLowerCase() === 'auto') return undefined;
  return integer(env, { name, fallback: 0, describe: '' }, 1, 10_000_000);
}

function cors(env: Env): CorsConfig | undefined {
  const { corsOrigins, corsCredentials } = SETTINGS;
  let origins: ReturnType<typeof parseCorsOrigins>;
  try {
    origins = parseCorsOrigins(raw(env, corsOrigins.name) ?? '');
  } catch (err) {
    throw new ConfigError(corsOrigins.name, (err as Error).message);
  }
  const credentials = boolean(env, corsCredentials);
  if (origins === undefined) return undefined;
  if (origins === '*' && credentials) {
    throw new ConfigError(corsOrigins.name, `"*" cannot be used with ${corsCredentials.name}=true: list the exact origins`);
  }
  return { origins, credentials };
}

export function loadConfig(env: Env): RelayConfig {
  const level = (raw(env, SETTINGS.logLevel.name) ?? SETTINGS.logLevel.fallback).toLowerCase();
  if (!LOG_LEVELS.includes(level as LogLevel)) {
    throw new ConfigError(SETTINGS.logLevel.name, `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
  return {
    host: raw(env, SETTINGS.host.name) ?? SETTINGS.host.fallback,
    port: port(env, SETTINGS.port),
    upstreamUrl: upstream(env),
    serverToken: raw(env, SETTINGS.serverToken.name),
    tokenplace: loadTokenPlaceConfig(env, raw(env, SETTINGS.serverToken.name)),
    upstreamConnectTimeoutMs: timeoutMs(env, SETTINGS.upstreamConnectTimeoutMs),
    upstreamHeadersTimeoutMs: timeoutMs(env, SETTINGS.upstreamHeadersTimeoutMs),
    upstreamIdleTimeoutMs: timeoutMs(env, SETTINGS.upstreamIdleTimeoutMs),
    drainSeconds: seconds(env, SETTINGS.drainSeconds),
    shutdownTimeoutSeconds: seconds(env, SETTINGS.shutdownTimeoutSeconds),
    maxBodyBytes: integer(env, SETTINGS.maxBodyBytes, 0, Number.MAX_SAFE_INTEGER),
    trustForwardedHeaders: boolean(env, SETTINGS.trustForwardedHeaders),
    logLevel: level as LogLevel,
    upstreamMaxConcurrency: integer(env, SETTINGS.upstreamMaxConcurrency, 0, 100_000),
    queueLength: integer(env, SETTINGS.queueLength, 0, 100_000),
    queueTimeoutMs: timeoutMs(env, SETTINGS.queueTimeoutMs),
    allowedUpstreams: allowedUpstreams(env),
    serverLeaseSeconds: integer(env, SETTINGS.serverLeaseSeconds, 1, 24 * 60 * 60),
    ejectAfterFailures: integer(env, SETTINGS.ejectAfterFailures, 1, 1000),
    ejectBackoffMs: timeoutMs(env, SETTINGS.ejectBackoffMs),
    ...clientTimeouts(env),
    maxConnections: maxConnections(env),
    cors: cors(env),
    metricsToken: raw(env, SETTINGS.metricsToken.name),
  };
}

function clientTimeouts(env: Env): { clientHeadersTimeoutMs: number; clientRequestTimeoutMs: number } {
  const { clientHeadersTimeoutMs, clientRequestTimeoutMs } = SETTINGS;
  const headers = timeoutMs(env, clientHeadersTimeoutMs);
  const request = timeoutMs(env, clientRequestTimeoutMs);
  if (request < headers) {
    throw new ConfigError(
      clientRequestTimeoutMs.name,
      `must be at least ${clientHeadersTimeoutMs.name} (${headers}), got ${request}`,
    );
  }
  return { clientHeadersTimeoutMs: headers, clientRequestTimeoutMs: request };
}

/** The upstream URL as it may be shown in logs and health output. */
export function publicUpstream(url: URL): string;
export function publicUpstream(url: URL | undefined): string | undefined;
export function publicUpstream(url: URL | undefined): string | undefined {
  if (url === undefined) return undefined;
  return `${url.origin}${url.pathname === '/' ? '' : url.pathname}`;
}

/** The effective configuration for the startup log line, secrets masked. */
export function describeConfig(config: RelayConfig): Record<string, unknown> {
  return {
    ...config,
    upstreamUrl: publicUpstream(config.upstreamUrl) ?? 'off',
    serverToken: undefined,
    serverTokenConfigured: config.serverToken !== undefined,
    tokenplace: {
      ...config.tokenplace,
      serverTokens: undefined,
      serverTokensConfigured: config.tokenplace.serverTokens.length,
      trustedProxies: config.tokenplace.trustedProxies.length,
    },
    metricsToken: undefined,
    metricsTokenConfigured: config.metricsToken !== undefined,
    allowedUpstreams: config.allowedUpstreams.entries.length > 0 ? config.allowedUpstreams.entries : 'private ranges',
    cors: config.cors && {
      origins: config.cors.origins === '*' ? '*' : [...config.cors.origins],
      credentials: config.cors.credentials,
    },
  };
}
