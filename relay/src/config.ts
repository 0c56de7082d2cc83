/**
 * Relay configuration, read once from environment variables and validated.
 * Every problem is reported as a ConfigError whose message names the variable.
 */
import { type CidrRange, parseIp } from './cidr.ts';
import { type CorsConfig, parseCorsOrigins } from './cors.ts';
import { SETTINGS } from './settings.ts';
import { boolean, ConfigError, type Env, integer, port, raw, seconds, secret, timeoutMs } from './settings-parse.ts';
import { loadTokenPlaceConfig, publicStateUrl, type TokenPlaceConfig } from './tokenplace/settings.ts';
import { parseTrustedProxies } from './trusted-proxies.ts';
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
  /** Keep X-Forwarded-* headers set by the proxy in front (Traefik) instead of replacing them, when it is in trustedProxies. */
  trustForwardedHeaders: boolean;
  /** Peers whose forwarded headers are believed (HTTP path and the protocol routes' client address). */
  trustedProxies: readonly CidrRange[];
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
  /** Longest silence in a streamed (over PREREAD_BYTES) request body once admitted. */
  clientBodyIdleTimeoutMs: number;
  /** Open client connections at most; undefined: the runtime derives it from the open-file limit. */
  maxConnections: number | undefined;
  /** Undefined when CORS is off (no origins configured). */
  cors: CorsConfig | undefined;
  /** Bearer token /metrics requires; undefined leaves /metrics open. */
  metricsToken: string | undefined;
  /** The port /metrics is served on, apart from the relay's; undefined: /metrics on the relay's port. */
  metricsPort: number | undefined;
}

export { SETTINGS } from './settings.ts';

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
  if (url.port === '0') {
    throw new ConfigError(name, 'port 0 is not a port anything listens on');
  }
  return url;
}

const LISTEN_NAME =
  /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** An IP address or a host name; a malformed address (999.1.1.1, ::1::) is refused here rather than by a DNS lookup at listen. */
function listenHost(env: Env): string {
  const name = SETTINGS.host.name;
  const value = raw(env, name) ?? SETTINGS.host.fallback;
  const looksNumeric = /^[0-9.]+$/.test(value) || value.includes(':');
  const bare = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  if (looksNumeric ? parseIp(bare) === undefined : !LISTEN_NAME.test(value)) {
    throw new ConfigError(name, `expected an IP address or a host name, got ${JSON.stringify(value)}`);
  }
  return bare;
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

function trustedProxies(env: Env): readonly CidrRange[] {
  const { name } = SETTINGS.trustedProxies;
  try {
    return parseTrustedProxies(raw(env, name));
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
    host: listenHost(env),
    port: port(env, SETTINGS.port),
    upstreamUrl: upstream(env),
    serverToken: secret(SETTINGS.serverToken.name, raw(env, SETTINGS.serverToken.name)),
    tokenplace: loadTokenPlaceConfig(env, secret(SETTINGS.serverToken.name, raw(env, SETTINGS.serverToken.name))),
    upstreamConnectTimeoutMs: timeoutMs(env, SETTINGS.upstreamConnectTimeoutMs),
    upstreamHeadersTimeoutMs: timeoutMs(env, SETTINGS.upstreamHeadersTimeoutMs),
    upstreamIdleTimeoutMs: timeoutMs(env, SETTINGS.upstreamIdleTimeoutMs),
    drainSeconds: seconds(env, SETTINGS.drainSeconds),
    shutdownTimeoutSeconds: seconds(env, SETTINGS.shutdownTimeoutSeconds),
    maxBodyBytes: integer(env, SETTINGS.maxBodyBytes, 0, Number.MAX_SAFE_INTEGER),
    trustForwardedHeaders: boolean(env, SETTINGS.trustForwardedHeaders),
    trustedProxies: trustedProxies(env),
    logLevel: level as LogLevel,
    upstreamMaxConcurrency: integer(env, SETTINGS.upstreamMaxConcurrency, 0, 100_000),
    queueLength: integer(env, SETTINGS.queueLength, 0, 100_000),
    queueTimeoutMs: timeoutMs(env, SETTINGS.queueTimeoutMs),
    allowedUpstreams: allowedUpstreams(env),
    serverLeaseSeconds: integer(env, SETTINGS.serverLeaseSeconds, 1, 24 * 60 * 60),
    ejectAfterFailures: integer(env, SETTINGS.ejectAfterFailures, 1, 1000),
    ejectBackoffMs: timeoutMs(env, SETTINGS.ejectBackoffMs),
    ...clientTimeouts(env),
    clientBodyIdleTimeoutMs: timeoutMs(env, SETTINGS.clientBodyIdleTimeoutMs),
    maxConnections: maxConnections(env),
    cors: cors(env),
    metricsToken: secret(SETTINGS.metricsToken.name, raw(env, SETTINGS.metricsToken.name)),
    metricsPort: metricsPort(env),
  };
}

function metricsPort(env: Env): number | undefined {
  const { name } = SETTINGS.metricsPort;
  if (raw(env, name) === undefined) return undefined;
  const value = port(env, { name, fallback: 0, describe: '' });
  if (value === port(env, SETTINGS.port)) throw new ConfigError(name, `must differ from ${SETTINGS.port.name} (${value})`);
  return value;
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
      stateUrl: publicStateUrl(config.tokenplace.stateUrl),
      statePassword: undefined,
      statePasswordConfigured: config.tokenplace.statePassword !== undefined,
    },
    trustedProxies: config.trustedProxies.length,
    metricsToken: undefined,
    metricsTokenConfigured: config.metricsToken !== undefined,
    allowedUpstreams: config.allowedUpstreams.entries.length > 0 ? config.allowedUpstreams.entries : 'private ranges',
    cors: config.cors && {
      origins: config.cors.origins === '*' ? '*' : [...config.cors.origins],
      credentials: config.cors.credentials,
    },
  };
}
