import { describe, expect, it } from 'vitest';
import { memoryRateLimiters } from '../../../node/rate-limiters.ts';
import { capabilities, harness, requestEnvelope } from '../harness.ts';

const NEXT = '/api/v1/relay/servers/next';

describe('GET /api/v1/relay/servers/next', () => {
  it('answers 503 no_registered_compute_nodes with no nodes, and 400 to an unknown context tier', async () => {
    const h = harness();
    const none = await h.send('GET', NEXT);
    expect(none.status).toBe(503);
    expect(none.body).toEqual({
      error: { message: 'No registered compute nodes are available on this relay.', code: 'no_registered_compute_nodes' },
    });
    await h.register('k');
    expect((await h.send('GET', `${NEXT}?context_tier=1m`)).body).toEqual({
      error: { message: 'Unsupported context_tier', code: 'invalid_context_tier' },
    });
  });

  it('selects a node for the default model and reports the selection as relay.py does', async () => {
    const h = harness();
    await h.register('k');
    const reply = await h.send('GET', NEXT);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('access-control-allow-origin')).toBe('*');
    expect(reply.body).toEqual({
      server_public_key: 'k',
      requested_context_tier: '8k-fast',
      requested_model: 'qwen3-8b-instruct',
      resolved_model: 'qwen3-8b-instruct',
      selected_context_tier: '8k-fast',
      selected_context_window_tokens: 8192,
      selected_model_support: ['qwen3-8b-instruct'],
      selection_policy: 'best_fit_smallest_capable_least_loaded_v1',
      eligible_node_count: 1,
      eligible_tier_counts: { '8k-fast': 1 },
      selected_queue_depth: 0,
      selected_in_flight_count: 0,
      selected_load_score: 0,
      spillover: false,
    });
  });

  it('resolves token.place model aliases and refuses a model no node serves', async () => {
    const h = harness();
    await h.register('k');
    expect((await h.send('GET', `${NEXT}?model=Llama-3-8B-Instruct`)).body.resolved_model).toBe('qwen3-8b-instruct');
    const none = await h.send('GET', `${NEXT}?model=mistral`);
    expect(none.status).toBe(503);
    expect(none.body.error).toMatchObject({
      code: 'no_matching_compute_node',
      requested_model: 'mistral',
      eligible_node_count: 0,
    });
  });

  it('a node registered without capabilities is listed but matches no model', async () => {
    const h = harness();
    await h.register('bare', null);
    expect((await h.send('GET', NEXT)).body.error.code).toBe('no_matching_compute_node');
  });

  it('prefers the smallest capable tier, spills over to a larger one, and takes turns among equals', async () => {
    const h = harness();
    await h.register('big', capabilities({ active_context_tier: '64k-full', maximum_total_context_tokens: 65536 }));
    expect((await h.send('GET', NEXT)).body).toMatchObject({
      server_public_key: 'big',
      spillover: true,
      spillover_reason: 'no_smaller_eligible_node_available',
    });
    await h.register('a');
    await h.register('b');
    const picks = [];
    for (let i = 0; i < 4; i++) picks.push((await h.send('GET', NEXT)).body.server_public_key);
    expect(picks).toEqual(['a', 'b', 'a', 'b']);
    expect((await h.send('GET', `${NEXT}?context_tier=64k-full`)).body.server_public_key).toBe('big');
  });

  it('prefers the least loaded node, and answers 503 no_available_capacity with Retry-After when all are busy', async () => {
    const h = harness();
    await h.register('a');
    await h.register('b');
    await h.enqueue('a', 'c', 'r1');
    await h.poll('a');
    expect((await h.send('GET', NEXT)).body.server_public_key).toBe('b');
    await h.enqueue('b', 'c', 'r2');
    await h.poll('b');
    const busy = await h.send('GET', NEXT);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(busy.body.error).toMatchObject({
      code: 'no_available_capacity',
      capacity_limited_node_count: 2,
      capacity_limited_tier_counts: { '8k-fast': 2 },
    });
  });
});

describe('POST /api/v1/relay/requests', () => {
  it.each([
    ['a plaintext field', { messages: [] }, 'Plaintext relay payload fields are forbidden; send ciphertext envelope only'],
    ['an unknown field', { model: 'x' }, 'Unexpected relay payload fields are forbidden; send ciphertext envelope only'],
  ])('refuses %s with 400', async (_what, extra, message) => {
    const h = harness();
    await h.register('k');
    const reply = await h.send('POST', '/api/v1/relay/requests', { ...requestEnvelope('k', 'c', 'r'), ...extra });
    expect(reply).toMatchObject({ status: 400, body: { error: { message, code: 400 } } });
  });

  it.each([
    ['malformed JSON', '{"a":'],
    ['no ciphertext', { ...requestEnvelope('k', 'c', 'r'), chat_history: undefined }],
    ['no iv', { ...requestEnvelope('k', 'c', 'r'), iv: undefined }],
    ['no server key', { ...requestEnvelope('k', 'c', 'r'), server_public_key: undefined }],
    ['ciphertext that is not a string', { ...requestEnvelope('k', 'c', 'r'), chat_history: 5 }],
    ['no request_id', { ...requestEnvelope('k', 'c', 'r'), request_id: undefined }],
  ])('answers 400 Invalid request data to %s', async (_what, body) => {
    const h = harness();
    await h.register('k');
    const reply = await h.send('POST', '/api/v1/relay/requests', body);
    expect(reply).toMatchObject({ status: 400, body: { error: { message: 'Invalid request data', code: 400 } } });
  });

  it('answers 400 without a client key and 404 for an unknown node', async () => {
    const h = harness();
    await h.register('k');
    expect((await h.enqueue('k', '', 'r')).body).toEqual({ error: { message: 'Missing client public key', code: 400 } });
    expect((await h.enqueue('nobody', 'c', 'r')).body).toEqual({
      error: { message: 'Server with the specified public key not found', code: 404 },
    });
  });

  it('admits a request with its deadline, accepting `ciphertext` as the browser sends it', async () => {
    const h = harness();
    await h.register('k');
    const envelope = requestEnvelope('k', 'c', 'r');
    const { chat_history, ...browser } = envelope;
    const reply = await h.send('POST', '/api/v1/relay/requests', { ...browser, ciphertext: chat_history });
    expect(reply.body).toEqual({
      message: 'Request received',
      request_deadline_remaining_seconds: 480,
      request_ttl_seconds: 480,
    });
    expect((await h.poll('k')).body.chat_history).toBe(chat_history);
  });

  it('enqueues a retried request_id once, and refuses one that already finished', async () => {
    const h = harness();
    await h.register('k');
    await h.enqueue('k', 'c', 'r');
    h.clock.advance(1000);
    expect((await h.enqueue('k', 'c', 'r')).body.request_ttl_seconds).toBe(479);
    expect((await h.store.listNodes(h.clock.now()))[0].queueDepth).toBe(1);
    await h.poll('k');
    await h.respond('c', 'r');
    expect((await h.enqueue('k', 'c', 'r')).status).toBe(409);
  });

  it('bounds each node queue: a full queue answers 503 no_available_capacity with Retry-After', async () => {
    const h = harness({ TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: '2' });
    await h.register('k');
    await h.enqueue('k', 'c', 'r1');
    await h.enqueue('k', 'c', 'r2');
    const full = await h.enqueue('k', 'c', 'r3');
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('1');
    expect(full.body.error.code).toBe('no_available_capacity');
  });

  it('bounds the ciphertext held in memory: beyond TOKENPLACE_RELAY_MAX_STORED_BYTES, 503 relay_storage_full', async () => {
    const h = harness({ TOKENPLACE_RELAY_MAX_STORED_BYTES: String(100 * 1024) });
    await h.register('k', { ...(await import('../harness.ts')).capabilities({ max_concurrency: 4 }) });
    const big = { chat_history: 'x'.repeat(40 * 1024) };
    expect((await h.enqueue('k', 'c', 'r1', big)).status).toBe(200);
    expect((await h.enqueue('k', 'c', 'r2', big)).status).toBe(200);
    const full = await h.enqueue('k', 'c', 'r3', big);
    expect(full).toMatchObject({ status: 503, body: { error: { code: 'relay_storage_full' } } });
    await h.poll('k');
    await h.respond('c', 'r1');
    await h.retrieve('c', 'r1');
    expect((await h.enqueue('k', 'c', 'r3', big)).status).toBe(200);
  });

  it('answers 503 with Retry-After while the relay drains', async () => {
    const h = harness();
    await h.register('k');
    h.lifecycle.beginDrain();
    const reply = await h.enqueue('k', 'c', 'r');
    expect(reply.status).toBe(503);
    expect(reply.headers.get('retry-after')).toBe('1');
  });

  it('refuses an envelope over TOKENPLACE_RELAY_MAX_ENVELOPE_BYTES with 413', async () => {
    const h = harness({ TOKENPLACE_RELAY_MAX_ENVELOPE_BYTES: '2048' });
    await h.register('k');
    expect((await h.enqueue('k', 'c', 'r', { chat_history: 'x'.repeat(4096) })).status).toBe(413);
  });

  it('rate limits per real client behind a trusted proxy, like relay.py’s 429', async () => {
    const h = harness({ API_RATE_LIMIT: '2/hour' }, { rateLimiters: memoryRateLimiters });
    await h.register('k');
    const from = (address: string) => ({ 'x-test-peer': '10.42.0.9', 'x-forwarded-for': `${address}, 10.42.0.3` });
    const send = (address: string, id: string) =>
      h.send('POST', '/api/v1/relay/requests', requestEnvelope('k', 'c', id), from(address));
    expect((await send('198.51.100.1', 'a')).status).toBe(200);
    expect((await send('198.51.100.1', 'b')).status).toBe(200);
    const limited = await send('198.51.100.1', 'c');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null });
    expect((await send('198.51.100.2', 'd')).status).toBe(200);
  });
});
