/**
 * Settings of token.place's relay protocol. Where token.place's relay.py has a variable for the
 * same thing, the relay reads that name, so an operator's existing environment carries over; unlike
 * relay.py, a malformed value stops the relay with a message instead of silently falling back.
 */
import { boolean, ConfigError, type Env, integer, raw, type Setting, seconds, secret } from '../settings-parse.ts';

export const TOKENPLACE_SETTINGS = {
  serverTokens: {
    name: 'TOKEN_PLACE_RELAY_SERVER_TOKENS',
    fallback: '',
    describe: 'More server tokens, comma or newline separated (rotation); a node may present any of them. Never logged.',
  },
  openRegistration: {
    name: 'TOKENPLACE_RELAY_OPEN_REGISTRATION',
    fallback: false,
    describe:
      'With no server token set: let any compute node register (token.place public-network mode; a node then receives prompts encrypted to its own key). Off: node routes answer 403 until a token is set.',
  },
  pollWaitSeconds: {
    name: 'TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS',
    fallback: 10,
    describe: 'Longest hold of a compute node long poll before it is answered "No requests available" (0 to 60).',
  },
  nodeLeaseSeconds: {
    name: 'TOKEN_PLACE_API_V1_RELAY_SERVER_LEASE_SECONDS',
    fallback: 30,
    describe: 'Lease of a token.place compute node; a node that neither polls nor re-registers for this long is evicted.',
  },
  inFlightTtlSeconds: {
    name: 'TOKEN_PLACE_API_V1_IN_FLIGHT_TTL_SECONDS',
    fallback: 'the node lease',
    describe: 'Accounting lease of a dispatched request; the node renews it with /servers/control while it works.',
  },
  maxQueueDepth: {
    name: 'TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE',
    fallback: 64,
    describe: 'Encrypted requests that may wait for one node; when full, /requests answers 503 with Retry-After.',
  },
  requestDeadlineSeconds: {
    name: 'TOKEN_PLACE_API_V1_REQUEST_DEADLINE_SECONDS',
    fallback: 480,
    describe: 'Absolute deadline of a relayed request from admission (1 to 3600); then it expires (410 "expired").',
  },
  tombstoneTtlSeconds: {
    name: 'TOKEN_PLACE_API_V1_CONTROL_TOMBSTONE_TTL_SECONDS',
    fallback: 60,
    describe: 'How long a node can still learn through /servers/control that its request was cancelled or expired (1 to 300).',
  },
  terminalTtlSeconds: {
    name: 'TOKENPLACE_TERMINAL_REQUEST_TTL_SECONDS',
    fallback: 300,
    describe: 'How long a cancelled or expired request keeps answering 410 instead of 404.',
  },
  maxEnvelopeBytes: {
    name: 'TOKENPLACE_RELAY_MAX_ENVELOPE_BYTES',
    fallback: 1024 * 1024,
    describe: 'Largest body of a protocol route (requests, responses); larger: 413. Progress updates are capped at 16 KiB.',
  },
  maxNodes: {
    name: 'TOKENPLACE_RELAY_MAX_NODES',
    fallback: 256,
    describe: 'token.place compute nodes registered at most; a new node beyond that gets 503.',
  },
  stateUrl: {
    name: 'TOKENPLACE_RELAY_STATE_URL',
    fallback: 'in memory',
    describe:
      'Valkey/Redis that holds the protocol state shared by every replica (redis:// or rediss://; redis+cluster:// or rediss+cluster:// for one node of a Cluster); unset: this replica keeps it in memory (one replica only).',
  },
  statePassword: {
    name: 'TOKENPLACE_RELAY_STATE_PASSWORD',
    fallback: 'none',
    describe:
      'Password of the state store when TOKENPLACE_RELAY_STATE_URL carries none (the chart fills it from a Secret). Never logged.',
  },
  stateSlotLeaseSeconds: {
    name: 'TOKENPLACE_RELAY_STATE_SLOT_LEASE_SECONDS',
    fallback: 10,
    describe:
      'With a shared state store: lease of a slot on the HTTP upstream (one GPU budget across replicas), renewed while its request runs; slots of a replica that died come back this long after (1 to 300).',
  },
  maxStoredBytes: {
    name: 'TOKENPLACE_RELAY_MAX_STORED_BYTES',
    fallback: 64 * 1024 * 1024,
    describe: 'Ciphertext the relay holds at most (queued, in-flight and unretrieved); beyond it, /requests answers 503.',
  },
  publicRateLimit: {
    name: 'API_RATE_LIMIT',
    fallback: '60/hour',
    describe: 'Requests and cancels per client address (`N/second|minute|hour|day`, or `off`), as relay.py; then 429.',
  },
  publicDailyQuota: {
    name: 'API_DAILY_QUOTA',
    fallback: '1000/day',
    describe: 'Second budget for the same routes and clients, usually per day (`off` to drop it).',
  },
  controlPlaneIpRateLimit: {
    name: 'API_RELAY_CONTROL_PLANE_IP_RATE_LIMIT',
    fallback: '10000/hour',
    describe: 'Compute-node route calls per node address, all node routes together; then 429 with Retry-After.',
  },
} satisfies Record<string, Setting<unknown>>;

export interface RateLimitRule {
  points: number;
  durationSeconds: number;
  /** As configured, for messages ("60/hour"). */
  text: string;
}

export interface TokenPlaceConfig {
  /** Every accepted server token; empty when none is configured. */
  serverTokens: string[];
  openRegistration: boolean;
  pollWaitSeconds: number;
  nodeLeaseSeconds: number;
  inFlightTtlSeconds: number;
  maxQueueDepth: number;
  requestDeadlineSeconds: number;
  tombstoneTtlSeconds: number;
  terminalTtlSeconds: number;
  maxEnvelopeBytes: number;
  maxNodes: number;
  maxStoredBytes: number;
  /** The shared state store; undefined: in memory. */
  stateUrl: string | undefined;
  statePassword: string | undefined;
  /** Lease of a slot on the HTTP upstream when the budget is shared. */
  stateSlotLeaseSeconds: number;
  publicRateLimits: RateLimitRule[];
  controlPlaneIpRateLimit: RateLimitRule | undefined;
}

const UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };

export function parseRateLimit(name: string, text: string): RateLimitRule | undefined {
  if (text.toLowerCase() === 'off') return undefined;
  const match = /^(\d+)\s*(?:\/|per)\s*(second|minute|hour|day)s?$/i.exec(text);
  if (!match || Number(match[1]) < 1) {
    throw new ConfigError(name, `expected "N/second", "N/minute", "N/hour", "N/day" or "off", got ${JSON.stringify(text)}`);
  }
  return { points: Number(match[1]), durationSeconds: UNIT_SECONDS[match[2].toLowerCase()], text };
}

function rateLimit(env: Env, setting: Setting<string>): RateLimitRule | undefined {
  return parseRateLimit(setting.name, raw(env, setting.name) ?? setting.fallback);
}

function stateUrl(env: Env): string | undefined {
  const { name } = TOKENPLACE_SETTINGS.stateUrl;
  const value = raw(env, name);
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, 'not a URL; expected redis://host:6379 or rediss://host:6380');
  }
  if (!['redis:', 'rediss:', 'redis+cluster:', 'rediss+cluster:'].includes(url.protocol)) {
    throw new ConfigError(
      name,
      `expected a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL, got ${url.protocol}//`,
    );
  }
  return value;
}

/** The state store's URL as it may be logged: no password. */
export function publicStateUrl(url: string | undefined): string {
  if (url === undefined) return 'in memory';
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

/** token.place's own rule: the plural list (commas or newlines) plus the single token, blanks dropped. */
export function serverTokens(env: Env, single: string | undefined): string[] {
  const name = TOKENPLACE_SETTINGS.serverTokens.name;
  const listed = (env[name] ?? '').replaceAll('\n', ',').split(',');
  const tokens = [...new Set([...listed, single ?? ''].map((token) => token.trim()).filter((token) => token !== ''))];
  for (const token of tokens) secret(name, token);
  return tokens;
}

export function loadTokenPlaceConfig(env: Env, singleServerToken: string | undefined): TokenPlaceConfig {
  const s = TOKENPLACE_SETTINGS;
  const nodeLeaseSeconds = integer(env, s.nodeLeaseSeconds, 1, 3600);
  const inFlight = raw(env, s.inFlightTtlSeconds.name);
  const daily = rateLimit(env, s.publicDailyQuota);
  const hourly = rateLimit(env, s.publicRateLimit);
  return {
    serverTokens: serverTokens(env, singleServerToken),
    openRegistration: boolean(env, s.openRegistration),
    pollWaitSeconds: seconds(env, s.pollWaitSeconds, 0, 60),
    nodeLeaseSeconds,
    inFlightTtlSeconds:
      inFlight === undefined ? nodeLeaseSeconds : seconds(env, { ...s.inFlightTtlSeconds, fallback: nodeLeaseSeconds }, 1, 3600),
    maxQueueDepth: integer(env, s.maxQueueDepth, 1, 100_000),
    requestDeadlineSeconds: seconds(env, s.requestDeadlineSeconds, 1, 3600),
    tombstoneTtlSeconds: seconds(env, s.tombstoneTtlSeconds, 1, 300),
    terminalTtlSeconds: seconds(env, s.terminalTtlSeconds, 1, 86_400),
    maxEnvelopeBytes: integer(env, s.maxEnvelopeBytes, 1024, 64 * 1024 * 1024),
    maxNodes: integer(env, s.maxNodes, 1, 100_000),
    maxStoredBytes: integer(env, s.maxStoredBytes, 64 * 1024, Number.MAX_SAFE_INTEGER),
    stateUrl: stateUrl(env),
    statePassword: raw(env, s.statePassword.name),
    stateSlotLeaseSeconds: seconds(env, s.stateSlotLeaseSeconds, 1, 300),
    publicRateLimits: [hourly, daily].filter((rule): rule is RateLimitRule => rule !== undefined),
    controlPlaneIpRateLimit: rateLimit(env, s.controlPlaneIpRateLimit),
  };
}
