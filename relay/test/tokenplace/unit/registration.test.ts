import { describe, expect, it } from 'vitest';
import { memoryRateLimiters } from '../../../node/rate-limiters.ts';
import { capabilities, harness, TOKEN } from '../harness.ts';

const REGISTER = '/api/v1/relay/servers/register';

describe('POST /api/v1/relay/servers/register', () => {
  it('refuses a missing or wrong server token with 401 and relay.py’s body', async () => {
    const h = harness();
    for (const headers of [{}, { 'x-relay-server-token': 'nope' }] as Record<string, string>[]) {
      const reply = await h.send('POST', REGISTER, { server_public_key: 'k' }, headers);
      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ error: { message: 'Missing or invalid relay server token', code: 401 } });
    }
  });

  it('counts wrong tokens against the public quota: past it, 429 with Retry-After and no more log lines', async () => {
    const h = harness({ API_RATE_LIMIT: '5/hour' }, { rateLimiters: memoryRateLimiters });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const reply = await h.send('POST', REGISTER, { server_public_key: 'k' }, { 'x-relay-server-token': `guess-${i}` });
      statuses.push(reply.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]));
    const warnings = h.lines.filter((line) => line.level === 'warn' && line.message?.includes('wrong server token'));
    expect(warnings).toHaveLength(5);
    // Another address still gets its own answer.
    const other = await h.send(
      'POST',
      REGISTER,
      { server_public_key: 'k' },
      { 'x-relay-server-token': 'x', 'x-test-peer': '198.51.100.8' },
    );
    expect(other.status).toBe(401);
  });

  it('accepts any of the tokens in TOKEN_PLACE_RELAY_SERVER_TOKENS', async () => {
    const h = harness({ TOKEN_PLACE_RELAY_SERVER_TOKENS: 'old-one,\nnew-one' });
    for (const token of ['old-one', 'new-one', TOKEN]) {
      const reply = await h.send('POST', REGISTER, { server_public_key: `k-${token}` }, { 'x-relay-server-token': token });
      expect(reply.status).toBe(200);
    }
  });

  it('keeps node routes closed without a token, unless open registration is chosen', async () => {
    const closed = harness({ TOKEN_PLACE_RELAY_SERVER_TOKEN: '' });
    const refused = await closed.send('POST', REGISTER, { server_public_key: 'k' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('TOKEN_PLACE_RELAY_SERVER_TOKEN');
    const open = harness({ TOKEN_PLACE_RELAY_SERVER_TOKEN: '', TOKENPLACE_RELAY_OPEN_REGISTRATION: 'true' });
    expect((await open.send('POST', REGISTER, { server_public_key: 'k' })).status).toBe(200);
  });

  it.each([
    ['not JSON', '{oops', 'Invalid request data'],
    ['an array', '[]', 'Invalid request data'],
    ['no key', '{}', 'Missing server public key'],
    ['an empty key', '{"server_public_key": ""}', 'Missing server public key'],
    ['a key that is not a string', '{"server_public_key": ["k"]}', 'Invalid server public key'],
  ])('answers 400 to a body that is %s', async (_what, body, message) => {
    const reply = await harness().node(REGISTER, body);
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ error: { message, code: 400 } });
  });

  it.each([
    ['capabilities must be an object', 'x'],
    ['capabilities.api_version must be v1', { ...capabilities(), api_version: 'v2' }],
    ['capabilities.active_context_tier must be a string', { ...capabilities(), active_context_tier: 5 }],
    ['capabilities.active_context_tier is unsupported', { ...capabilities(), active_context_tier: '1m-huge' }],
    ['capabilities.supported_model_ids must be a non-empty string list', { ...capabilities(), supported_model_ids: [] }],
    [
      'capabilities.supported_model_ids must be a non-empty string list',
      { ...capabilities(), supported_model_ids: Array(65).fill('m') },
    ],
    [
      'capabilities.maximum_total_context_tokens must be a positive integer',
      { ...capabilities(), maximum_total_context_tokens: 0 },
    ],
    [
      'capabilities.maximum_total_context_tokens is below the active tier',
      { ...capabilities(), maximum_total_context_tokens: 4096 },
    ],
    ['capability token reservations and concurrency must be positive integers', { ...capabilities(), max_concurrency: 129 }],
    ['default output reservation cannot exceed maximum output tokens', { ...capabilities(), maximum_output_tokens: 10 }],
    ['capabilities.backend_class must be a string', { ...capabilities(), backend_class: 3 }],
  ])('refuses capabilities: %s', async (message, caps) => {
    const reply = await harness().node(REGISTER, { server_public_key: 'k', capabilities: caps });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ error: { message, code: 'invalid_capabilities' } });
  });

  it('refuses a body not declared JSON, so a web page cannot register a node with a text/plain post (no preflight)', async () => {
    const h = harness({ TOKEN_PLACE_RELAY_SERVER_TOKEN: '', TOKENPLACE_RELAY_OPEN_REGISTRATION: 'true' });
    const request = new Request('http://relay/api/v1/relay/servers/register', {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ server_public_key: 'intruder', capabilities: capabilities() }),
    });
    const reply = await h.handler(request, { clientAddress: '203.0.113.9' });
    expect(reply.status).toBe(400);
    expect(await reply.json()).toEqual({ error: { message: 'Invalid request data', code: 400 } });
    expect(await h.store.getNode('intruder')).toBeUndefined();
  });

  it('hands out the control credential once, keeps only its digest, and renews the lease on re-registration', async () => {
    const h = harness();
    const first = await h.node(REGISTER, { server_public_key: 'k', capabilities: capabilities() });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      next_ping_in_x_seconds: 30,
      poll_wait_seconds: 10,
      relay_capabilities: { encrypted_progress_v1: true },
      control_credential: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    const stored = await h.store.getNode('k');
    expect(stored?.credentialDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(first.body.control_credential);
    h.clock.advance(20_000);
    const again = await h.node(REGISTER, { server_public_key: 'k', capabilities: capabilities({ max_concurrency: 2 }) });
    expect(again.body.control_credential).toBeUndefined();
    expect((await h.store.getNode('k'))?.lastSeenAt).toBe(h.clock.now());
    expect((await h.store.getNode('k'))?.capabilities.max_concurrency).toBe(2);
  });

  it('normalises capabilities as relay.py does (model ids lower-cased and deduplicated, unknown backend)', async () => {
    const h = harness();
    await h.register(
      'k',
      capabilities({ supported_model_ids: [' Qwen3-8B-Instruct ', 'qwen3-8b-instruct'], backend_class: 'TPU' }),
    );
    const node = await h.store.getNode('k');
    expect(node?.capabilities.supported_model_ids).toEqual(['qwen3-8b-instruct']);
    expect(node?.capabilities.backend_class).toBe('unknown');
  });

  it('answers 503 for a new node beyond TOKENPLACE_RELAY_MAX_NODES, while known nodes still renew', async () => {
    const h = harness({ TOKENPLACE_RELAY_MAX_NODES: '1' });
    await h.register('a');
    const refused = await h.node(REGISTER, { server_public_key: 'b' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.body.error.code).toBe('relay_node_capacity');
    expect((await h.node(REGISTER, { server_public_key: 'a' })).status).toBe(200);
  });

  it('never logs keys, tokens or credentials', async () => {
    const h = harness();
    const credential = await h.register('secret-node-key');
    const logged = JSON.stringify(h.lines);
    for (const secret of ['secret-node-key', TOKEN, credential]) expect(logged).not.toContain(secret);
  });
});

describe('POST /api/v1/relay/servers/unregister and the legacy /unregister', () => {
  it('needs the control credential of a live node, then removes it and cancels its queue', async () => {
    const h = harness();
    const credential = await h.register('k');
    await h.enqueue('k', 'client', 'r1');
    const path = '/api/v1/relay/servers/unregister';
    const forbidden = await h.node(path, { server_public_key: 'k' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({ error: { message: 'Missing or invalid relay server control credential', code: 403 } });
    expect((await h.node(path, { server_public_key: 'k', control_credential: 'wrong' })).status).toBe(403);
    const removed = await h.node(path, { server_public_key: 'k', control_credential: credential });
    expect(removed).toMatchObject({ status: 200, body: { message: 'Server unregistered', removed: true } });
    expect((await h.retrieve('client', 'r1')).body).toEqual({
      error: { message: 'Request cancelled', code: 'cancelled', status: 'cancelled', reason: 'server_unregistered' },
    });
    expect((await h.node(path, { server_public_key: 'k', control_credential: credential })).body.removed).toBe(false);
  });

  it('answers bad bodies with relay.py’s shapes: nested on the API v1 route, a plain string on the legacy one', async () => {
    const h = harness();
    expect((await h.node('/api/v1/relay/servers/unregister', '[]')).body).toEqual({
      error: { message: 'Invalid request data', code: 400 },
    });
    expect((await h.node('/api/v1/relay/servers/unregister', { server_public_key: ' ' })).body).toEqual({
      error: { message: 'Invalid public key', code: 400 },
    });
    expect((await h.node('/unregister', '[]')).body).toEqual({ error: 'Invalid request data' });
    expect((await h.node('/unregister', { server_public_key: 7 })).body).toEqual({ error: 'Invalid public key' });
    const credential = await h.register('k');
    expect((await h.node('/unregister', { server_public_key: 'k', control_credential: credential })).body.removed).toBe(true);
  });
});
