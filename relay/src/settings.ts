/** Every environment variable the relay reads, with its default and meaning (the README's table is generated from this). */
import type { LogLevel } from './config.ts';
import type { Setting } from './settings-parse.ts';
import { TOKENPLACE_SETTINGS } from './tokenplace/settings.ts';

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
    describe:
      'From a peer in TOKENPLACE_RELAY_TRUSTED_PROXIES: keep X-Forwarded-Proto/-Host, Forwarded, X-Real-IP, X-Forwarded-Port/-Prefix and extend X-Forwarded-For (true). From any other peer, or with false: replace the X-Forwarded-* with what the relay saw and drop the others.',
  },
  trustedProxies: {
    name: 'TOKENPLACE_RELAY_TRUSTED_PROXIES',
    fallback: 'loopback and private ranges',
    describe:
      'Addresses or CIDRs (comma separated, or `none`) of the proxies in front whose forwarded headers are believed: on the HTTP path, and for the client address the protocol routes key rate limits on (the rightmost X-Forwarded-For hop outside them). Set it to your pod CIDR (k3s: 10.42.0.0/16).',
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
    describe:
      'Consecutive failures (refused, unreachable, TLS handshake, reset before answering) after which a pool member is ejected (passive health).',
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
  clientBodyIdleTimeoutMs: {
    name: 'TOKENPLACE_RELAY_CLIENT_BODY_IDLE_TIMEOUT_MS',
    fallback: 10000,
    describe:
      'Longest silence in a request body over 64 KiB once it holds a slot (smaller bodies are read before admission); then 408 and the slot is freed.',
  },
  maxConnections: {
    name: 'TOKENPLACE_RELAY_MAX_CONNECTIONS',
    fallback: 'derived from the open-file limit and memory',
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
  metricsPort: {
    name: 'TOKENPLACE_RELAY_METRICS_PORT',
    fallback: '',
    describe:
      'Serve /metrics on this port only, apart from RELAY_PORT (which then answers /metrics with 404), so a proxy that routes every path of RELAY_PORT to the public never exposes it; empty: /metrics on RELAY_PORT.',
  },
  metricsToken: {
    name: 'TOKENPLACE_METRICS_TOKEN',
    fallback: '',
    describe: 'When set, /metrics requires `Authorization: Bearer <token>`. Never logged.',
  },
} satisfies Record<string, Setting<unknown>>;
