import { describe, expect, it } from 'vitest';
import { createPromMetrics } from '../../node/prom-metrics.ts';
import { loadConfig } from '../../src/config.ts';
import { createRelayHandler, type RelayDeps } from '../../src/handler.ts';
import { Lifecycle } from '../../src/lifecycle.ts';
import type { RelayLogger } from '../../src/observability.ts';
import { type UpstreamClient, UpstreamError, type UpstreamRequest, type UpstreamResponse } from '../../src/upstream.ts';

/** A fake upstream client (no socket): records each request and answers with what the test scripts. */
function fakeUpstream(answer: (request: UpstreamRequest) => Promise<UpstreamResponse> | UpstreamResponse) {
  const seen: UpstreamRequest[] = [];
  const client: UpstreamClient = async (request) => {
    seen.push(request);
    return answer(request);
  };
  return { client, seen };
}

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

function ok(body: string, headers: Record<string, string | string[]> = {}): UpstreamResponse {
  return { status: 200, headers, body: streamOf(body), done: Promise.resolve({ bytes: body.length }) };
}

/** Collects log lines in memory instead of writing them. */
function memoryLog() {
  const lines: { level: string; fields: Record<string, unknown>; message?: string }[] = [];
  const at =
    (level: string) =>
    (fields: object, message?: string): void => {
      lines.push({ level, fields: fields as Record<string, unknown>, message });
    };
  const log: RelayLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

function setup(upstream: UpstreamClient, env: Record<string, string> = {}) {
  const lifecycle = new Lifecycle();
  const metrics = createPromMetrics();
  const { log, lines } = memoryLog();
  let clock = 1000;
  const deps: RelayDeps = {
    upstream,
    metrics,
    log,
    lifecycle,
    version: '9.9.9',
    now: () => clock,
    generateId: () => 'generated-id',
  };
  const handler = createRelayHandler(loadConfig({ TOKENPLACE_RELAY_UPSTREAM_URL: 'http://gpu-server:8000', ...env }), deps);
  return {
    handler,
    lifecycle,
    metrics,
    lines,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('probes', () => {
  it('/livez is 200 until shutdown begins, then 503', async () => {
    const { handler, lifecycle } = setup(fakeUpstream(() => ok('')).client);
    let response = await handler(new Request('http://relay/livez'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'alive' });
    lifecycle.markReady();
    lifecycle.beginDrain();
    response = await handler(new Request('http://relay/livez'));
    expect(response.status).toBe(503);
  });

  it('/healthz is 503 while starting, 200 when ready, 503 draining after SIGTERM', async () => {
    const { handler, lifecycle } = setup(fakeUpstream(() => ok('')).client);
    let response = await handler(new Request('http://relay/healthz'));
    expect(response.status).toBe(503);
    const counts = { relayOnly: false, knownServers: 0, activeServers: 0 };
    expect(await response.json()).toEqual({
      status: 'starting',
      ...counts,
      version: '9.9.9',
    });
    lifecycle.markReady();
    response = await handler(new Request('http://relay/healthz'));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', ...counts, version: '9.9.9' });
    lifecycle.beginDrain();
    response = await handler(new Request('http://relay/healthz'));
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ status: 'draining' });
  });

  it('never shows the upstream (address, port, base path) to anonymous clients in /healthz', async () => {
    const { handler, lifecycle } = setup(fakeUpstream(() => ok('')).client, {
      TOKENPLACE_RELAY_UPSTREAM_URL: 'https://gpu.lan:8443/base',
    });
    lifecycle.markReady();
    const text = await (await handler(new Request('http://relay/healthz'))).text();
    expect(JSON.parse(text)).toMatchObject({ status: 'ready', relayOnly: false });
    expect(text).not.toMatch(/gpu\.lan|8443|base/);
  });

  it('answers its own routes itself whatever the spelling of the path, and forwards only what is not its own', async () => {
    const upstream = fakeUpstream(() => ok('from the GPU host'));
    const { handler, lifecycle } = setup(upstream.client);
    lifecycle.markReady();
    /** A request whose URL stays as the client spelled it, as @whatwg-node's Request on Node keeps it. */
    const raw = (url: string) => {
      const request = new Request('http://relay/');
      Object.defineProperty(request, 'url', { value: url });
      return request;
    };
    for (const url of ['http://relay/livez', 'http://relay/./livez', 'http://relay/v1/../livez', 'http://relay/x\\..\\livez']) {
      const response = await handler(raw(url));
      expect({ url, status: response.status, body: await response.json() }).toEqual({
        url,
        status: 200,
        body: { status: 'alive' },
      });
    }
    expect((await handler(raw('http://relay/relay/servers/unknown-id'))).status).not.toBe(200);
    expect(upstream.seen).toHaveLength(0);
    const forwarded = await handler(raw('http://relay/v1/models?x=1'));
    expect(await forwarded.text()).toBe('from the GPU host');
    expect(upstream.seen.map((request) => request.target.path)).toEqual(['/v1/models?x=1']);
  });

  it('answers 405 with Allow for other methods on its own routes, without forwarding', async () => {
    const upstream = fakeUpstream(() => ok(''));
    const { handler } = setup(upstream.client);
    const response = await handler(new Request('http://relay/healthz', { method: 'POST', body: 'x' }));
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect((await response.json()).error.code).toBe('method_not_allowed');
    expect(upstream.seen).toHaveLength(0);
  });

  it('/metrics serves Prometheus text with bounded route labels and process metrics', async () => {
    const { handler } = setup(fakeUpstream(() => ok('hello')).client);
    await (await handler(new Request('http://relay/v1/models/abc?x=1'))).text();
    await (await handler(new Request('http://relay/some/other/path'))).text();
    await settle();
    const response = await handler(new Request('http://relay/metrics'));
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('tokenplace_relay_requests_total{method="GET",route="proxy",status="200"} 2');
    expect(text).toContain('tokenplace_relay_request_duration_seconds_bucket');
    expect(text).toContain('tokenplace_relay_requests_in_flight');
    expect(text).toContain('tokenplace_relay_upstream_errors_total{kind="connect"} 0');
    expect(text).toContain('process_open_fds');
    expect(text).toContain('process_max_fds');
    expect(text).not.toContain('/v1/models');
    expect(text).not.toContain('/some/other');
  });
});

describe('forwarding', () => {
  it('sends method, path, query, filtered headers and body to the configured upstream only', async () => {
    const upstream = fakeUpstream(() => ok('{"ok":true}', { 'content-type': 'application/json' }));
    const { handler } = setup(upstream.client);
    const response = await handler(
      new Request('http://relay.example.org//evil.example/../v1/chat?stream=true', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': '2',
          connection: 'x-hop',
          'x-hop': '1',
          host: 'evil.example',
        },
        body: '{}',
      }),
      { clientAddress: '10.0.0.9' },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    const [sent] = upstream.seen;
    expect(sent.target).toEqual({ origin: 'http://gpu-server:8000', path: '//v1/chat?stream=true' });
    expect(sent.method).toBe('POST');
    expect(sent.headers['x-hop']).toBeUndefined();
    expect(sent.headers['x-forwarded-for']).toBe('10.0.0.9');
    expect(sent.headers['x-request-id']).toBe('generated-id');
    expect(sent.body).not.toBeNull();
  });

  it('returns the request id and passes upstream headers through minus hop-by-hop ones', async () => {
    const { handler } = setup(
      fakeUpstream(() =>
        ok('x', { 'content-encoding': 'gzip', 'keep-alive': 'timeout=1', 'set-cookie': ['a=1', 'b=2'], 'x-model': 'llama' }),
      ).client,
    );
    const response = await handler(new Request('http://relay/v1', { headers: { 'x-request-id': 'abc-1' } }));
    expect(response.headers.get('x-request-id')).toBe('abc-1');
    expect(response.headers.get('content-encoding')).toBe('gzip');
    expect(response.headers.get('keep-alive')).toBeNull();
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(response.headers.get('x-model')).toBe('llama');
  });

  it('sends no body for GET and for an empty POST', async () => {
    const upstream = fakeUpstream(() => ok(''));
    const { handler } = setup(upstream.client);
    await handler(new Request('http://relay/a'));
    await handler(new Request('http://relay/b', { method: 'POST', headers: { 'content-length': '0' } }));
    expect(upstream.seen.map((request) => request.body)).toEqual([null, null]);
  });

  it('passes the client abort signal to the upstream client', async () => {
    const upstream = fakeUpstream(() => ok(''));
    const { handler } = setup(upstream.client);
    const controller = new AbortController();
    await handler(new Request('http://relay/slow', { signal: controller.signal }));
    controller.abort();
    expect(upstream.seen[0].signal.aborted).toBe(true);
  });

  it.each([
    ['connect', 502, 'upstream_unavailable'],
    ['reset', 502, 'upstream_reset'],
    ['protocol', 502, 'upstream_bad_response'],
    ['timeout', 504, 'upstream_timeout'],
  ] as const)('maps an upstream %s failure to %i %s and counts it', async (kind, status, code) => {
    const { handler, metrics, lines } = setup(
      fakeUpstream(() => {
        throw new UpstreamError(kind, 'boom');
      }).client,
    );
    const response = await handler(new Request('http://relay/v1'));
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(response.headers.get('x-request-id')).toBe('generated-id');
    const body = await response.json();
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    expect(await metrics.registry.getSingleMetricAsString('tokenplace_relay_upstream_errors_total')).toContain(
      `kind="${kind}"} 1`,
    );
    expect(lines.at(-1)?.fields).toMatchObject({ status, route: 'proxy', error: `${kind}: boom` });
  });

  it('turns an unexpected client failure into a 502, not a crash', async () => {
    const { handler } = setup(
      fakeUpstream(() => {
        throw new TypeError('weird');
      }).client,
    );
    const response = await handler(new Request('http://relay/v1'));
    expect(response.status).toBe(502);
  });

  it('answers a malformed upstream status with 502', async () => {
    const { handler } = setup(fakeUpstream(() => ({ ...ok('x'), status: 999 })).client);
    const response = await handler(new Request('http://relay/v1'));
    expect(response.status).toBe(502);
    expect((await response.json()).error.code).toBe('upstream_bad_response');
  });

  it('rejects a declared body over the limit with 413 before calling the upstream', async () => {
    const upstream = fakeUpstream(() => ok(''));
    const { handler } = setup(upstream.client, { TOKENPLACE_RELAY_MAX_BODY_BYTES: '4' });
    const response = await handler(
      new Request('http://relay/v1', { method: 'POST', headers: { 'content-length': '5' }, body: '12345' }),
    );
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect((await response.json()).error.code).toBe('payload_too_large');
    expect(upstream.seen).toHaveLength(0);
  });

  it('cuts a streamed body at the limit with 413', async () => {
    const upstream = fakeUpstream(async (request) => {
      const reader = (request.body as ReadableStream<Uint8Array>).getReader();
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
      }
      return ok('');
    });
    const { handler } = setup(upstream.client, { TOKENPLACE_RELAY_MAX_BODY_BYTES: '4' });
    const response = await handler(
      new Request('http://relay/v1', {
        method: 'POST',
        headers: { 'transfer-encoding': 'chunked' },
        body: streamOf('12', '34', '56'),
        duplex: 'half',
      } as RequestInit),
    );
    expect(response.status).toBe(413);
  });

  it('streams a chunked body within the limit unchanged', async () => {
    let received = '';
    const upstream = fakeUpstream(async (request) => {
      received = await new Response(request.body as BodyInit | null).text();
      return ok('');
    });
    const { handler } = setup(upstream.client, { TOKENPLACE_RELAY_MAX_BODY_BYTES: '6' });
    const response = await handler(
      new Request('http://relay/v1', {
        method: 'POST',
        headers: { 'transfer-encoding': 'chunked' },
        body: streamOf('12', '34', '56'),
        duplex: 'half',
      } as RequestInit),
    );
    expect(response.status).toBe(200);
    expect(received).toBe('123456');
  });

  it('records duration when the body has finished streaming, not when the handler returns', async () => {
    let finish: (value: { bytes: number }) => void = () => undefined;
    const done = new Promise<{ bytes: number }>((resolve) => {
      finish = resolve;
    });
    const { handler, advance, lines, metrics } = setup(
      fakeUpstream(() => ({ status: 200, headers: {}, body: streamOf('data'), done })).client,
    );
    const response = await handler(new Request('http://relay/stream', { headers: { authorization: 'Bearer t0k' } }));
    expect(response.status).toBe(200);
    await settle();
    expect(lines.filter((line) => line.fields.route === 'proxy')).toHaveLength(0);
    expect(await metrics.registry.getSingleMetricAsString('tokenplace_relay_requests_in_flight')).toContain('route="proxy"} 1');
    advance(2500);
    finish({ bytes: 4 });
    await settle();
    const line = lines.find((entry) => entry.fields.route === 'proxy');
    expect(line?.fields).toMatchObject({ status: 200, durationMs: 2500, bytes: 4, requestId: 'generated-id', method: 'GET' });
    expect(JSON.stringify(lines)).not.toContain('t0k');
    expect(await metrics.registry.getSingleMetricAsString('tokenplace_relay_requests_in_flight')).toContain('route="proxy"} 0');
  });

  it('logs a stream cut by the upstream with the error kind and counts it', async () => {
    const { handler, lines, metrics } = setup(
      fakeUpstream(() => ({
        status: 200,
        headers: {},
        body: streamOf('partial'),
        done: Promise.resolve({ bytes: 7, error: new UpstreamError('timeout', 'idle') }),
      })).client,
    );
    await handler(new Request('http://relay/stream'));
    await settle();
    expect(lines.at(-1)).toMatchObject({ level: 'warn', fields: { status: 200, bytes: 7, error: 'timeout: idle' } });
    expect(await metrics.registry.getSingleMetricAsString('tokenplace_relay_upstream_errors_total')).toContain(
      'kind="timeout"} 1',
    );
  });

  it('logs a client that left mid-stream as 499 without counting an upstream error', async () => {
    const { handler, lines, metrics } = setup(
      fakeUpstream(() => ({
        status: 200,
        headers: {},
        body: streamOf('partial'),
        done: Promise.resolve({ bytes: 3, error: new UpstreamError('aborted', 'client disconnected') }),
      })).client,
    );
    await handler(new Request('http://relay/stream'));
    await settle();
    expect(lines.at(-1)?.fields).toMatchObject({ status: 499, bytes: 3 });
    const errors = await metrics.registry.getSingleMetricAsString('tokenplace_relay_upstream_errors_total');
    expect(errors).not.toMatch(/} [1-9]/);
  });

  it('never logs secret query values', async () => {
    const { handler, lines } = setup(fakeUpstream(() => ok('')).client);
    await handler(new Request('http://relay/v1?token=abc123&model=x'));
    await settle();
    expect(lines.at(-1)?.fields).toMatchObject({ path: '/v1', query: '?token=***&model=x' });
    expect(JSON.stringify(lines)).not.toContain('abc123');
  });
});
