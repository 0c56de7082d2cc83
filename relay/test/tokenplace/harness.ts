/**
 * The relay's fetch handler with the token.place protocol, no socket: a fake clock, an in-memory
 * store without background sweeps, and helpers that speak the protocol as server.py and
 * client.py do (with fake ciphertext: the relay never decrypts).
 */

import { randomUUID } from 'node:crypto';
import { createPromMetrics } from '../../node/prom-metrics.ts';
import { createRedisStore } from '../../node/redis-store/connect.ts';
import { loadConfig } from '../../src/config.ts';
import { createRelayHandler, tokenPlaceObserver } from '../../src/handler.ts';
import { Lifecycle } from '../../src/lifecycle.ts';
import type { RelayLogger } from '../../src/observability.ts';
import { MemoryStore } from '../../src/tokenplace/memory-store.ts';
import type { RateLimiterFactory } from '../../src/tokenplace/rate-limits.ts';
import { FakeClock } from '../helpers/fake-clock.ts';

export const TOKEN = 'node-token';

export function capabilities(overrides: Record<string, unknown> = {}) {
  return {
    api_version: 'v1',
    supported_model_ids: ['qwen3-8b-instruct'],
    active_context_tier: '8k-fast',
    maximum_total_context_tokens: 8192,
    default_output_token_reservation: 1024,
    maximum_output_tokens: 8192,
    max_concurrency: 1,
    backend_class: 'cuda',
    ...overrides,
  };
}

export function requestEnvelope(node: string, client: string, requestId: string, extra: Record<string, unknown> = {}) {
  return {
    server_public_key: node,
    client_public_key: client,
    chat_history: `cipher-of-${requestId}`,
    cipherkey: 'wrapped-key',
    iv: 'iv==',
    protocol: 'tokenplace_api_v1_relay_e2ee',
    version: 1,
    request_id: requestId,
    cancel_token: `cancel-${requestId}`,
    ...extra,
  };
}

export function responseEnvelope(client: string, requestId: string, extra: Record<string, unknown> = {}) {
  return {
    client_public_key: client,
    request_id: requestId,
    protocol: 'tokenplace_api_v1_relay_e2ee',
    version: 1,
    chat_history: `answer-to-${requestId}`,
    cipherkey: 'wrapped-key-2',
    iv: 'iv2==',
    ...extra,
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: replies are JSON of many shapes, read freely in assertions
  body: any;
}

export function harness(env: Record<string, string> = {}, options: { rateLimiters?: RateLimiterFactory } = {}) {
  const clock = new FakeClock();
  const lifecycle = new Lifecycle();
  lifecycle.markReady();
  const lines: { level: string; fields: Record<string, unknown>; message?: string }[] = [];
  const at = (level: string) => (fields: object, message?: string) => {
    lines.push({ level, fields: fields as Record<string, unknown>, message });
  };
  const log: RelayLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const config = loadConfig({ TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN, TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: '10', ...env });
  const tp = config.tokenplace;
  const metrics = createPromMetrics();
  const stateUrl = process.env.TOKENPLACE_TEST_STATE_URL;
  const memory =
    stateUrl === undefined
      ? new MemoryStore({
          observer: tokenPlaceObserver(metrics),
          maxNodes: tp.maxNodes,
          maxStoredBytes: tp.maxStoredBytes,
          terminalTtlMs: tp.terminalTtlSeconds * 1000,
          tombstoneTtlMs: tp.tombstoneTtlSeconds * 1000,
          clock,
          sweepIntervalMs: 0,
        })
      : undefined;
  // With TOKENPLACE_TEST_STATE_URL the same route tests run against the Valkey/Redis store (a developer's parity
  // check; tests that read the in-memory store's sizes() fail there by design).
  const shared =
    stateUrl === undefined
      ? undefined
      : createRedisStore({ url: stateUrl, prefix: `harness-${randomUUID()}`, queueWhileConnecting: true }, tp, {
          observer: tokenPlaceObserver(metrics),
          sweepIntervalMs: 0,
        }).store;
  const store = (memory ?? shared) as MemoryStore;
  const handler = createRelayHandler(config, {
    upstream: async () => {
      throw new Error('no HTTP upstream in these tests');
    },
    metrics,
    log,
    lifecycle,
    version: 'test',
    clock,
    tokenplaceStore: store,
    rateLimiters: options.rateLimiters,
  });

  async function send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Reply> {
    const init: RequestInit = { method, headers: { ...headers }, signal };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const response = await handler(new Request(`http://relay${path}`, init), {
      clientAddress: headers['x-test-peer'] ?? '203.0.113.9',
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: response.status, headers: response.headers, body: parsed };
  }

  const node = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    send('POST', path, body, { 'x-relay-server-token': TOKEN, ...headers });

  async function register(key: string, caps: Record<string, unknown> | null = capabilities()): Promise<string> {
    const reply = await node(
      '/api/v1/relay/servers/register',
      caps === null ? { server_public_key: key } : { server_public_key: key, capabilities: caps },
    );
    if (reply.status !== 200) throw new Error(`register ${key}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body.control_credential;
  }

  const poll = (key: string, signal?: AbortSignal) =>
    send('POST', '/api/v1/relay/servers/poll', { server_public_key: key }, { 'x-relay-server-token': TOKEN }, signal);
  const enqueue = (nodeKey: string, client: string, requestId: string, extra: Record<string, unknown> = {}) =>
    send('POST', '/api/v1/relay/requests', requestEnvelope(nodeKey, client, requestId, extra));
  const respond = (client: string, requestId: string, extra: Record<string, unknown> = {}) =>
    node('/api/v1/relay/responses', responseEnvelope(client, requestId, extra));
  const retrieve = (client: string, requestId?: string) =>
    send(
      'POST',
      '/api/v1/relay/responses/retrieve',
      requestId === undefined ? { client_public_key: client } : { client_public_key: client, request_id: requestId },
    );
  const control = (key: string, requestId: string, credential: string, acknowledge = false) =>
    node('/api/v1/relay/servers/control', {
      server_public_key: key,
      request_id: requestId,
      control_credential: credential,
      acknowledge,
    });

  /** Lets pending promise chains (a woken poll) run. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  /** Resolves once `count` polls are held in the store (their hashing of tokens runs off the event loop). */
  async function heldPolls(count = 1): Promise<void> {
    for (let i = 0; i < 500; i++) {
      if ((shared?.heldPollNodes() ?? store.sizes().waiters) >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    throw new Error(`fewer than ${count} polls were held`);
  }

  return {
    clock,
    lifecycle,
    lines,
    store,
    config,
    handler,
    send,
    node,
    register,
    poll,
    enqueue,
    respond,
    retrieve,
    control,
    settle,
    heldPolls,
  };
}
