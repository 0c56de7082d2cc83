import { describe, expect, it } from 'vitest';
import { capabilities, harness } from '../harness.ts';

describe('routes of the protocol', () => {
  it('answers CORS preflights of the public routes with relay.py’s fixed contract', async () => {
    const h = harness({ TOKENPLACE_RELAY_CORS_ORIGINS: 'https://only.example' });
    for (const path of [
      '/api/v1/relay/requests',
      '/api/v1/relay/requests/cancel',
      '/api/v1/relay/responses/retrieve',
      '/api/v1/relay/servers/next',
    ]) {
      const reply = await h.send('OPTIONS', path, undefined, {
        origin: 'https://anyone.example',
        'access-control-request-method': 'POST',
      });
      expect(reply.status).toBe(204);
      expect(Object.fromEntries(reply.headers)).toMatchObject({
        'access-control-allow-origin': '*',
        'access-control-expose-headers': 'Retry-After',
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': 'Content-Type, Accept',
        'access-control-max-age': '600',
      });
      expect(reply.headers.has('access-control-allow-credentials')).toBe(false);
    }
  });

  it('gives the compute-node routes no CORS headers at all, whatever origins are configured', async () => {
    const h = harness({ TOKENPLACE_RELAY_CORS_ORIGINS: '*' });
    for (const path of [
      '/api/v1/relay/servers/register',
      '/api/v1/relay/servers/poll',
      '/api/v1/relay/responses',
      '/api/v1/relay/progress',
    ]) {
      const preflight = await h.send('OPTIONS', path, undefined, {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
      });
      expect(preflight.headers.has('access-control-allow-origin')).toBe(false);
      const reply = await h.node(path, {}, { origin: 'https://evil.example' });
      expect(reply.headers.has('access-control-allow-origin')).toBe(false);
    }
    const publicReply = await h.send('POST', '/api/v1/relay/responses/retrieve', {}, { origin: 'https://x.example' });
    expect(publicReply.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('answers unknown relay paths with 404 JSON and wrong methods with 405 and Allow, never forwarding them', async () => {
    const h = harness({ TOKENPLACE_RELAY_UPSTREAM_URL: 'http://gpu.invalid:8000' });
    expect(await h.send('GET', '/api/v1/relay/nope')).toMatchObject({ status: 404, body: { error: { code: 404 } } });
    const wrong = await h.send('GET', '/api/v1/relay/requests');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST, OPTIONS');
    expect(wrong.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('answers the deprecated legacy routes with relay.py’s 410', async () => {
    const h = harness();
    expect(await h.send('GET', '/next_server')).toMatchObject({
      status: 410,
      body: { error: { code: 'legacy_relay_endpoint_deprecated', deprecated: true } },
    });
    for (const path of ['/faucet', '/sink', '/source', '/retrieve', '/stream/source', '/stream/retrieve']) {
      expect((await h.send('POST', path, {})).status).toBe(410);
    }
    expect((await h.send('POST', '/relay/api/v1/chat/completions', {})).body.error.code).toBe(
      'distributed_api_v1_relay_disabled',
    );
  });

  it('with no HTTP upstream, every other path is a 404 JSON naming the setting', async () => {
    const h = harness();
    const reply = await h.send('POST', '/v1/chat/completions', { messages: [] });
    expect(reply.status).toBe(404);
    expect(reply.body.error.message).toContain('TOKENPLACE_RELAY_UPSTREAM_URL');
    expect((await h.send('GET', '/relay/servers')).status).toBe(404);
  });

  it('lists nodes in /relay/diagnostics with relay.py’s fields, and counts them in /healthz', async () => {
    const h = harness();
    await h.register('b', capabilities({ max_concurrency: 2 }));
    await h.register('a');
    await h.enqueue('b', 'c', 'r1');
    h.clock.advance(1500);
    const diagnostics = await h.send('GET', '/relay/diagnostics');
    expect(diagnostics.headers.get('cache-control')).toBe('no-store');
    expect(diagnostics.body).toMatchObject({
      relay_only: true,
      upstream_health_required: false,
      active_upstream_servers: [],
      total_registered_compute_nodes: 2,
      total_api_v1_registered_compute_nodes: 2,
    });
    expect(
      diagnostics.body.registered_compute_nodes.map((node: { server_public_key: string }) => node.server_public_key),
    ).toEqual(['a', 'b']);
    expect(diagnostics.body.registered_compute_nodes[1]).toEqual({
      server_public_key: 'b',
      age_seconds: 1.5,
      next_ping_in_x_seconds: 30,
      queue_depth: 1,
      in_flight_count: 0,
      max_concurrency: 2,
      load_score: 0.5,
      capabilities: capabilities({ max_concurrency: 2 }),
    });
    h.clock.advance(29_000);
    await h.register('a');
    expect((await h.send('GET', '/healthz')).body).toMatchObject({
      status: 'ready',
      relayOnly: true,
      knownServers: 2,
      activeServers: 1,
    });
  });

  it('frees everything a finished request held (no state left behind)', async () => {
    const h = harness({ TOKENPLACE_TERMINAL_REQUEST_TTL_SECONDS: '10', TOKEN_PLACE_API_V1_CONTROL_TOMBSTONE_TTL_SECONDS: '5' });
    await h.register('k');
    for (let i = 0; i < 20; i++) {
      await h.enqueue('k', 'c', `r${i}`);
      await h.poll('k');
      if (i % 2 === 0) await h.respond('c', `r${i}`);
      else
        await h.send('POST', '/api/v1/relay/requests/cancel', {
          client_public_key: 'c',
          request_id: `r${i}`,
          cancel_token: `cancel-r${i}`,
        });
      await h.retrieve('c', `r${i}`);
    }
    h.clock.advance(11_000);
    await h.register('k');
    await h.store.sweep(h.clock.now());
    expect(h.store.sizes()).toEqual({ nodes: 1, waiters: 0, live: 0, responses: 0, terminal: 0, tombstones: 0, storedBytes: 0 });
  });

  it('exports node counts, queued and in-flight work, and how requests ended on /metrics', async () => {
    const h = harness();
    await h.register('k');
    await h.enqueue('k', 'c', 'r1');
    await h.enqueue('k', 'c', 'r2');
    await h.poll('k');
    await h.respond('c', 'r1');
    await h.send('POST', '/api/v1/relay/requests/cancel', {
      client_public_key: 'c',
      request_id: 'r2',
      cancel_token: 'cancel-r2',
      reason: 'client_timeout',
    });
    await h.enqueue('k', 'c', 'r3');
    const text: string = (await h.send('GET', '/metrics')).body;
    expect(text).toContain('tokenplace_relay_compute_nodes{state="active"} 1');
    expect(text).toContain('tokenplace_relay_compute_node_queued_requests 1');
    expect(text).toContain('tokenplace_relay_relayed_requests_total{outcome="completed",reason="completed"} 1');
    expect(text).toContain('tokenplace_relay_relayed_requests_total{outcome="cancelled",reason="client_timeout"} 1');
    expect(text).toContain('tokenplace_relay_requests_total{method="POST",route="relay_requests",status="200"} 3');
    expect(text).not.toContain('cancel-r');
  });
});
