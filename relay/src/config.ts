/**
 * Relay configuration, read once from environment variables and validated.
 * Every problem is reported as a ConfigError whose message names the variable.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface RelayConfig {
  host: string;
  port: number;
  /** Where every forwarded request goes. Never derived from the incoming request. */
  upstreamUrl: URL;
  serverToken: string | undefined;
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
}

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

interface Setting<T> {
  name: string;
  fallback: T;
  describe: string;
}

/** The documented settings, in the order the README lists them. */
export const SETTINGS = {
  host: { name: 'RELAY_HOST', fallback: '0.0.0.0', describe: 'Address the relay listens on.' },
  port: { name: 'RELAY_PORT', fallback: 5010, describe: 'TCP port the relay listens on.' },
  upstreamUrl: {
    name: 'TOKENPLACE_RELAY_UPSTREAM_URL',
    fallback: 'http://gpu-server:8000',
    describe: 'Base URL of the GPU host (http or https, optional base path, no query).',
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
    describe: 'Shared secret that GPU hosts present to register with the relay. Never logged.',
  },
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
} satisfies Record<string, Setting<unknown>>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function integer(env: Env, setting: Setting<number>, min: number, max: number): number {
  const value = raw(env, setting.name);
  if (value === undefined) return setting.fallback;
  if (!/^-?\d+$/.test(value)) {
    throw new ConfigError(setting.name, `expected a whole number, got ${JSON.stringify(value)}`);
  }
  const parsed = Number(value);
  if (parsed < min || parsed > max) {
    throw new ConfigError(setting.name, `must be between ${min} and ${max}, got ${value}`);
  }
  return parsed;
}

function seconds(env: Env, setting: Setting<number>): number {
  const value = raw(env, setting.name);
  if (value === undefined) return setting.fallback;
  if (!/^-?\d+(\.\d+)?$/.test(value)) {
    throw new ConfigError(setting.name, `expected a number of seconds, got ${JSON.stringify(value)}`);
  }
  const parsed = Number(value);
  if (parsed < 0) throw new ConfigError(setting.name, `must not be negative, got ${value}`);
  if (parsed > 3600) throw new ConfigError(setting.name, `must be at most 3600 seconds, got ${value}`);
  return parsed;
}

function boolean(env: Env, setting: Setting<boolean>): boolean {
  const value = raw(env, setting.name);
  if (value === undefined) return setting.fallback;
  const lower = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  throw new ConfigError(setting.name, `expected true or false, got ${JSON.stringify(value)}`);
}

function port(env: Env, setting: Setting<number>): number {
  return integer(env, setting, 1, 65535);
}

function timeoutMs(env: Env, setting: Setting<number>): number {
  return integer(env, setting, 1, 24 * 60 * 60 * 1000);
}

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

function upstream(env: Env): URL {
  const { upstreamUrl, gpuHost, gpuPort } = SETTINGS;
  const explicit = raw(env, upstreamUrl.name);
  if (explicit !== undefined) return parseUpstreamUrl(upstreamUrl.name, explicit);
  const host = raw(env, gpuHost.name);
  if (host === undefined) {
    if (raw(env, gpuPort.name) !== undefined) {
      throw new ConfigError(gpuHost.name, `must be set when ${gpuPort.name} is set`);
    }
    return parseUpstreamUrl(upstreamUrl.name, upstreamUrl.fallback);
  }
  if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host)) {
    throw new ConfigError(gpuHost.name, `expected a host name or IP address, got ${JSON.stringify(host)}`);
  }
  return parseUpstreamUrl(gpuHost.name, `http://${host}:${port(env, gpuPort)}`);
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
    upstreamConnectTimeoutMs: timeoutMs(env, SETTINGS.upstreamConnectTimeoutMs),
    upstreamHeadersTimeoutMs: timeoutMs(env, SETTINGS.upstreamHeadersTimeoutMs),
    upstreamIdleTimeoutMs: timeoutMs(env, SETTINGS.upstreamIdleTimeoutMs),
    drainSeconds: seconds(env, SETTINGS.drainSeconds),
    shutdownTimeoutSeconds: seconds(env, SETTINGS.shutdownTimeoutSeconds),
    maxBodyBytes: integer(env, SETTINGS.maxBodyBytes, 0, Number.MAX_SAFE_INTEGER),
    trustForwardedHeaders: boolean(env, SETTINGS.trustForwardedHeaders),
    logLevel: level as LogLevel,
  };
}

/** The upstream URL as it may be shown in logs and health output. */
export function publicUpstream(url: URL): string {
  return `${url.origin}${url.pathname === '/' ? '' : url.pathname}`;
}

/** The effective configuration for the startup log line, secrets masked. */
export function describeConfig(config: RelayConfig): Record<string, unknown> {
  return {
    ...config,
    upstreamUrl: publicUpstream(config.upstreamUrl),
    serverToken: undefined,
    serverTokenConfigured: config.serverToken !== undefined,
  };
}
