import { describe, expect, it } from 'vitest';
import { capabilities, harness } from '../harness.ts';

describe('POST /api/v1/relay/servers/poll', () => {
  it('answers relay.py’s errors: 400 without a key, 404 for an unknown node, 400 for bad capabilities', async () => {
    const h = harness();
    expect((await h.node('/api/v1/relay/servers/poll', {})).body).toEqual({
      error: { message: 'Missing server public key', code: 400 },
    });
    expect((await h.node('/api/v1/relay/servers/poll', 'x')).body).toEqual({
      error: { message: 'Invalid request data', code: 400 },
    });
    const unknown = await h.poll('nobody');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { message: 'Server with the specified public key not found', code: 404 } });
    await h.register('k');
    const bad = await h.node('/api/v1/relay/servers/poll', {
      server_public_key: 'k',
      capabilities: { active_context_tier: 'x' },
    });
    expect(bad.body.error.code).toBe('invalid_capabilities');
  });

  it('hands queued work out at once, one item per answer, as the envelope relay.py dispatches plus next_ping_in_x_seconds 0', async () => {
    const h = harness();
    await h.register('k', capabilities({ max_concurrency: 2 }));
    await h.enqueue('k', 'client', 'r1');
    await h.enqueue('k', 'client', 'r2');
    const first = await h.poll('k');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      client_public_key: 'client',
      chat_history: 'cipher-of-r1',
      ciphertext: 'cipher-of-r1',
      cipherkey: 'wrapped-key',
      iv: 'iv==',
      protocol: 'tokenplace_api_v1_relay_e2ee',
      version: 1,
      request_id: 'r1',
      e2ee_v1: true,
      request_deadline_remaining_seconds: 480,
      request_ttl_seconds: 480,
      next_ping_in_x_seconds: 0,
    });
    expect((await h.poll('k')).body.request_id).toBe('r2');
  });

  it('holds an idle poll until work arrives, and the enqueue wakes it without any timer', async () => {
    const h = harness();
    await h.register('k');
    let answered = false;
    const pending = h.poll('k').then((reply) => {
      answered = true;
      return reply;
    });
    await h.heldPolls();
    expect(answered).toBe(false);
    expect((await h.store.getNode('k'))?.pollingUntil).toBe(h.clock.now() + 10_000);
    await h.enqueue('k', 'client', 'r1');
    const reply = await pending;
    expect(reply.body.request_id).toBe('r1');
    expect((await h.store.getNode('k'))?.pollingUntil).toBeUndefined();
  });

  it('answers "No requests available" when the poll wait ends, telling the node to poll again at once', async () => {
    const h = harness();
    await h.register('k');
    const pending = h.poll('k');
    await h.heldPolls();
    h.clock.advance(10_000);
    const reply = await pending;
    expect(reply).toMatchObject({
      status: 200,
      body: { message: 'No requests available', next_ping_in_x_seconds: 0, poll_wait_seconds: 10 },
    });
  });

  it('with a poll wait of 0 answers at once and tells the node to wait for its lease', async () => {
    const h = harness({ TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: '0' });
    await h.register('k');
    expect((await h.poll('k')).body).toEqual({
      message: 'No requests available',
      next_ping_in_x_seconds: 30,
      poll_wait_seconds: 0,
    });
  });

  it('never gives a node more in flight than its max_concurrency; a finished request frees the slot and wakes the poll', async () => {
    const h = harness();
    await h.register('k', capabilities({ max_concurrency: 1 }));
    await h.enqueue('k', 'client', 'r1');
    await h.enqueue('k', 'client', 'r2');
    expect((await h.poll('k')).body.request_id).toBe('r1');
    let second: { body: { request_id?: string } } | undefined;
    const pending = h.poll('k').then((reply) => {
      second = reply;
    });
    await h.heldPolls();
    expect(second).toBeUndefined();
    expect((await h.store.listNodes(h.clock.now()))[0]).toMatchObject({ inFlight: 1, queueDepth: 1 });
    await h.respond('client', 'r1');
    await pending;
    expect(second?.body.request_id).toBe('r2');
  });

  it('does not count a request whose accounting lease ran out (the node stopped renewing it)', async () => {
    const h = harness();
    await h.register('k');
    await h.enqueue('k', 'client', 'r1');
    await h.enqueue('k', 'client', 'r2');
    await h.poll('k');
    h.clock.advance(20_000);
    await h.register('k');
    h.clock.advance(11_000);
    expect((await h.poll('k')).body.request_id).toBe('r2');
  });

  it('skips and expires queued work whose deadline passed', async () => {
    const h = harness({ TOKEN_PLACE_API_V1_REQUEST_DEADLINE_SECONDS: '5' });
    await h.register('k');
    await h.enqueue('k', 'client', 'old');
    h.clock.advance(6_000);
    await h.register('k');
    await h.enqueue('k', 'client', 'new');
    expect((await h.poll('k')).body.request_id).toBe('new');
    expect((await h.retrieve('client', 'old')).body.error).toMatchObject({ status: 'expired' });
  });

  it('puts work back at the head of the queue when the node hung up before the answer', async () => {
    const h = harness();
    await h.register('k');
    const controller = new AbortController();
    const pending = h.poll('k', controller.signal).catch(() => undefined);
    await h.heldPolls();
    controller.abort();
    await pending;
    await h.enqueue('k', 'client', 'r1');
    expect((await h.store.listNodes(h.clock.now()))[0]).toMatchObject({ inFlight: 0, queueDepth: 1 });
    expect((await h.poll('k')).body.request_id).toBe('r1');
  });

  it('answers a held poll at once when the drain begins, and tells the node to come back in a second', async () => {
    const h = harness();
    await h.register('k');
    const pending = h.poll('k');
    await h.heldPolls();
    h.lifecycle.beginDrain();
    const reply = await pending;
    expect(reply.body).toEqual({ message: 'No requests available', next_ping_in_x_seconds: 1, poll_wait_seconds: 10 });
    await h.enqueue('k', 'client', 'r1');
    expect((await h.poll('k')).body.message).toBe('No requests available');
  });

  it('answers 404 to a held poll whose node is unregistered meanwhile', async () => {
    const h = harness();
    const credential = await h.register('k');
    const pending = h.poll('k');
    await h.heldPolls();
    await h.node('/api/v1/relay/servers/unregister', { server_public_key: 'k', control_credential: credential });
    expect((await pending).status).toBe(404);
  });

  it('renews the lease while a node polls, and evicts a node that neither polls nor registers within it', async () => {
    const h = harness();
    await h.register('k');
    h.clock.advance(25_000);
    const pending = h.poll('k');
    await h.heldPolls();
    h.clock.advance(10_000);
    await pending;
    h.clock.advance(25_000);
    expect((await h.send('GET', '/relay/diagnostics')).body.total_registered_compute_nodes).toBe(1);
    h.clock.advance(6_000);
    expect((await h.send('GET', '/relay/diagnostics')).body.total_registered_compute_nodes).toBe(0);
  });
});
