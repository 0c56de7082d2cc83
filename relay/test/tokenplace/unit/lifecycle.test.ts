import { describe, expect, it } from 'vitest';
import { harness, responseEnvelope } from '../harness.ts';

async function dispatched(env: Record<string, string> = {}) {
  const h = harness(env);
  const credential = await h.register('k');
  await h.enqueue('k', 'c', 'r');
  await h.poll('k');
  return { h, credential };
}

describe('POST /api/v1/relay/responses and /responses/retrieve', () => {
  it('delivers the encrypted answer exactly once: 202 pending, 200 with the envelope, then 404', async () => {
    const { h } = await dispatched();
    expect((await h.retrieve('c', 'r')).body).toEqual({
      status: 'pending',
      request_deadline_remaining_seconds: 480,
      request_ttl_seconds: 480,
    });
    expect((await h.respond('c', 'r')).body).toEqual({ message: 'Response received and queued for client' });
    const delivered = await h.retrieve('c', 'r');
    expect(delivered.status).toBe(200);
    expect(delivered.body).toEqual({ ...responseEnvelope('c', 'r'), ciphertext: 'answer-to-r' });
    expect(await h.retrieve('c', 'r')).toMatchObject({
      status: 404,
      body: { error: { message: 'Unknown request_id: r', code: 404 } },
    });
  });

  it('ignores a duplicate answer while the first waits, and answers 410 completed once it was retrieved', async () => {
    const { h } = await dispatched();
    await h.respond('c', 'r');
    expect((await h.respond('c', 'r')).body).toEqual({ message: 'Response already queued for client' });
    await h.retrieve('c', 'r');
    expect(await h.respond('c', 'r')).toMatchObject({
      status: 410,
      body: { error: { message: 'Request is no longer waiting for a response', code: 'completed', status: 'completed' } },
    });
    expect((await h.respond('c', 'never-asked')).body.error).toMatchObject({ code: 'gone', status: 'gone' });
  });

  it('retrieves the oldest answer of a client when no request_id is given, as relay.py does', async () => {
    const { h } = await dispatched();
    await h.respond('c', 'r');
    expect((await h.retrieve('c')).body.request_id).toBe('r');
    expect((await h.retrieve('c')).body).toEqual({
      error: { message: 'No response available for the given public key', code: 404 },
    });
  });

  it.each([
    ['a plaintext field', { text: 'hi' }, 'Plaintext relay payload fields are forbidden; send ciphertext envelope only'],
    [
      'an unknown field',
      { server_public_key: 'k' },
      'Unexpected relay payload fields are forbidden; send ciphertext envelope only',
    ],
    ['no client key', { client_public_key: '' }, 'Invalid request data'],
    ['no cipherkey', { cipherkey: undefined }, 'Invalid request data'],
  ])('refuses an answer with %s', async (_what, extra, message) => {
    const { h } = await dispatched();
    expect(await h.respond('c', 'r', extra)).toMatchObject({ status: 400, body: { error: { message } } });
  });

  it('answers 400 to a retrieve without a client key', async () => {
    const h = harness();
    expect((await h.send('POST', '/api/v1/relay/responses/retrieve', { request_id: 'r' })).body).toEqual({
      error: { message: 'Invalid request data', code: 400 },
    });
  });

  it('expires a request at its deadline: retrieve and late answers get 410 expired', async () => {
    const { h } = await dispatched({ TOKEN_PLACE_API_V1_REQUEST_DEADLINE_SECONDS: '5' });
    h.clock.advance(5_000);
    expect((await h.retrieve('c', 'r')).body.error).toEqual({
      message: 'Request expired',
      code: 'expired',
      status: 'expired',
      reason: 'pending_request_ttl_exceeded',
    });
    expect((await h.respond('c', 'r')).body.error).toMatchObject({ status: 'expired' });
  });
});

describe('POST /api/v1/relay/requests/cancel', () => {
  const cancel = (h: ReturnType<typeof harness>, token: unknown, extra: Record<string, unknown> = {}) =>
    h.send('POST', '/api/v1/relay/requests/cancel', { client_public_key: 'c', request_id: 'r', cancel_token: token, ...extra });

  it('needs the cancel_token sent with the request', async () => {
    const h = harness();
    await h.register('k');
    await h.enqueue('k', 'c', 'r');
    for (const token of [undefined, 'wrong', 7]) {
      expect(await cancel(h, token)).toMatchObject({
        status: 403,
        body: { error: { message: 'Missing or invalid cancel proof', code: 403 } },
      });
    }
    expect((await h.send('POST', '/api/v1/relay/requests/cancel', { client_public_key: 'c' })).status).toBe(400);
  });

  it('removes a queued request: 410 cancelled for the client, nothing for the node', async () => {
    const h = harness();
    await h.register('k');
    await h.enqueue('k', 'c', 'r');
    expect((await cancel(h, 'cancel-r', { reason: 'requester_cancelled' })).body).toEqual({
      status: 'cancelled',
      request_id: 'r',
      removed_from_queue: 1,
    });
    expect((await h.retrieve('c', 'r')).body.error).toMatchObject({ status: 'cancelled', reason: 'requester_cancelled' });
    expect((await h.poll('k', AbortSignal.abort())).body.message).toBe('No requests available');
  });

  it('tells the node through control that its in-flight request was cancelled; acknowledging clears the tombstone', async () => {
    const { h, credential } = await dispatched();
    expect((await cancel(h, 'cancel-r', { status: 'bogus', reason: 'bogus' })).body).toEqual({
      status: 'cancelled',
      request_id: 'r',
      removed_from_queue: 0,
    });
    expect((await h.control('k', 'r', credential)).body).toEqual({
      status: 'cancelled',
      next_poll_seconds: 10,
      request_deadline_remaining_seconds: 480,
      request_ttl_seconds: 480,
    });
    expect((await h.control('k', 'r', credential, true)).body.status).toBe('cancelled');
    expect((await h.control('k', 'r', credential)).body).toEqual({ status: 'completed/unavailable', next_poll_seconds: 10 });
    expect((await h.respond('c', 'r')).status).toBe(410);
    expect((await cancel(h, 'cancel-r')).status).toBe(403);
  });
});

describe('POST /api/v1/relay/servers/control', () => {
  it('renews the accounting lease of an active request and reports the remaining deadline', async () => {
    const { h, credential } = await dispatched();
    h.clock.advance(25_000);
    expect((await h.control('k', 'r', credential)).body).toEqual({
      status: 'active',
      next_poll_seconds: 10,
      request_deadline_remaining_seconds: 455,
      request_ttl_seconds: 455,
    });
    h.clock.advance(10_000);
    expect((await h.store.listNodes(h.clock.now()))[0].inFlight).toBe(1);
  });

  it('answers 403 to a wrong credential and 400 to a body without ids', async () => {
    const { h } = await dispatched();
    expect(await h.control('k', 'r', 'stolen')).toMatchObject({ status: 403, body: { error: { code: 403 } } });
    expect((await h.node('/api/v1/relay/servers/control', { server_public_key: 'k' })).body).toEqual({
      error: { message: 'Invalid request data', code: 400 },
    });
    expect((await h.control('gone-node', 'r', 'x')).status).toBe(403);
  });

  it('expires a request past its deadline when the node asks', async () => {
    const { h, credential } = await dispatched({ TOKEN_PLACE_API_V1_REQUEST_DEADLINE_SECONDS: '60' });
    h.clock.advance(20_000);
    await h.control('k', 'r', credential);
    h.clock.advance(20_000);
    await h.register('k');
    await h.control('k', 'r', credential);
    h.clock.advance(20_000);
    await h.register('k');
    expect((await h.control('k', 'r', credential)).body).toMatchObject({ status: 'expired', request_ttl_seconds: 0 });
  });

  it('answers completed/unavailable for a request the node does not hold', async () => {
    const { h, credential } = await dispatched();
    expect((await h.control('k', 'other', credential)).body).toEqual({ status: 'completed/unavailable', next_poll_seconds: 10 });
  });
});

describe('POST /api/v1/relay/progress', () => {
  function progress(credential: string, overrides: Record<string, unknown> = {}) {
    return {
      server_public_key: 'k',
      client_public_key: 'c',
      request_id: 'r',
      control_credential: credential,
      protocol: 'tokenplace_api_v1_relay_e2ee',
      version: 1,
      ciphertext: 'progress-cipher',
      cipherkey: 'pk',
      iv: 'piv',
      ...overrides,
    };
  }

  it('keeps the latest encrypted update and hands it out once with a pending retrieve', async () => {
    const { h, credential } = await dispatched();
    expect(await h.node('/api/v1/relay/progress', progress(credential, { ciphertext: 'first' }))).toMatchObject({
      status: 202,
      body: { message: 'Encrypted progress accepted' },
    });
    await h.node('/api/v1/relay/progress', progress(credential, { ciphertext: 'second' }));
    const pending = await h.retrieve('c', 'r');
    expect(pending.body.encrypted_progress).toEqual({
      client_public_key: 'c',
      request_id: 'r',
      protocol: 'tokenplace_api_v1_relay_e2ee',
      version: 1,
      ciphertext: 'second',
      cipherkey: 'pk',
      iv: 'piv',
    });
    expect((await h.retrieve('c', 'r')).body.encrypted_progress).toBeUndefined();
  });

  it.each([
    ['an extra field', { text: 'x' }, 'Invalid encrypted progress schema'],
    ['a missing field', { iv: undefined }, 'Invalid encrypted progress schema'],
    ['another protocol', { protocol: 'v0' }, 'Invalid encrypted progress protocol'],
    ['version 2', { version: 2 }, 'Invalid encrypted progress protocol'],
    ['an empty ciphertext', { ciphertext: '' }, 'Invalid encrypted progress envelope'],
  ])('refuses %s with 400', async (_what, overrides, message) => {
    const { h, credential } = await dispatched();
    const body = JSON.parse(JSON.stringify(progress(credential, overrides)));
    expect(await h.node('/api/v1/relay/progress', body)).toMatchObject({ status: 400, body: { error: { message, code: 400 } } });
  });

  it('answers 413 over 16 KiB before reading the token, 403 to a wrong credential, 410 when not in flight', async () => {
    const { h, credential } = await dispatched();
    const big = await h.send('POST', '/api/v1/relay/progress', progress(credential, { ciphertext: 'x'.repeat(17_000) }));
    expect(big).toMatchObject({ status: 413, body: { error: { message: 'Progress envelope too large', code: 413 } } });
    expect((await h.node('/api/v1/relay/progress', progress('wrong'))).status).toBe(403);
    expect(await h.node('/api/v1/relay/progress', progress(credential, { request_id: 'other' }))).toMatchObject({
      status: 410,
      body: { error: { message: 'Progress request is not active for this owner', code: 410 } },
    });
    expect((await h.send('POST', '/api/v1/relay/progress', progress(credential), { 'x-relay-server-token': 'bad' })).status).toBe(
      401,
    );
  });
});
