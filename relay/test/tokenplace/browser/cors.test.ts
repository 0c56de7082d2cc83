/**
 * The relay's CORS contract as a real browser enforces it: a page on another origin may drive the public client routes
 * (with preflights, reading Retry-After), and may not drive the compute-node routes.
 */
import type { Browser } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { type BrowserTab, launchChromium, openTab } from '../../helpers/chromium.ts';
import { fakeRequest, newPublicKey } from '../../helpers/fake-envelope.ts';
import { usePeerBench } from '../../helpers/tokenplace-peers.ts';
import { startWebServer, type WebServer } from '../../helpers/tokenplace-web.ts';

const REGISTER = '/api/v1/relay/servers/register';
const REQUESTS = '/api/v1/relay/requests';

/** What a node serving token.place's default model registers (as server.py's mock does). */
const CAPABILITIES = {
  api_version: 'v1',
  supported_model_ids: ['qwen3-8b-instruct'],
  active_context_tier: '8k-fast',
  maximum_total_context_tokens: 8192,
  default_output_token_reservation: 1024,
  maximum_output_tokens: 8192,
  max_concurrency: 1,
  backend_class: 'cpu',
};

const bench = usePeerBench();
let browser: Browser | undefined;
let web: WebServer | undefined;
let tab: BrowserTab | undefined;

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') console.error(`what the page did:\n${tab?.transcript() ?? '(no page)'}`);
  await browser?.close();
  await web?.close();
  browser = undefined;
  web = undefined;
  tab = undefined;
});

/** One fetch made by the page: what its script could see, or the error the browser gave it. */
interface Seen {
  status?: number;
  retryAfter?: string | null;
  body?: unknown;
  error?: string;
}

/** Runs fetch(url, init) in the page and reports what the page's script could read. */
async function pageFetch(url: string, init: { method?: string; json?: unknown } = {}): Promise<Seen> {
  if (!tab) throw new Error('no page');
  return tab.page.evaluate(
    async ({ url, method, json }) => {
      try {
        const res = await fetch(url, {
          method,
          cache: 'no-store',
          ...(json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
        });
        const text = await res.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Kept as text.
        }
        return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
      } catch (err) {
        return { error: String(err) };
      }
    },
    { url, method: init.method ?? 'GET', json: init.json },
  );
}

describe('the relay from a page on another origin, in Chromium', { timeout: 60_000 }, () => {
  it('public client routes work cross-origin with a readable Retry-After; node registration is blocked', async () => {
    // A queue of one per node, so the second request finds the node full.
    const relay = await bench().startRelay({ TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: '1' });
    const nodeKey = newPublicKey();
    const registered = await relay.postJson(REGISTER, { server_public_key: nodeKey, capabilities: CAPABILITIES });
    expect(registered.status, JSON.stringify(registered.body)).toBe(200);
    web = await startWebServer();
    browser = await launchChromium();
    // No request interception: the preflights must reach the relay and its answers must count.
    tab = await openTab(browser, { cdn: false });
    await tab.page.goto(`${web.url}/blank`);
    const origin = new URL(web.url).origin;
    expect(origin).not.toBe(new URL(relay.url).origin);

    const next = await pageFetch(`${relay.url}/api/v1/relay/servers/next`);
    expect(next).toMatchObject({ status: 200, body: { server_public_key: nodeKey } });

    // application/json is not a CORS-safelisted content type: the browser asks with a preflight first.
    const first = fakeRequest(nodeKey);
    expect(await pageFetch(`${relay.url}${REQUESTS}`, { method: 'POST', json: first.body })).toMatchObject({ status: 200 });
    await relay.waitForAnswer(REQUESTS, 204);
    const ids = { client_public_key: first.clientPublicKey, request_id: first.requestId };
    const pending = await pageFetch(`${relay.url}/api/v1/relay/responses/retrieve`, { method: 'POST', json: ids });
    expect(pending).toMatchObject({ status: 202, body: { status: 'pending' } });

    // The node's queue is full now. Retry-After is readable only because the relay exposes it to scripts.
    const full = await pageFetch(`${relay.url}/api/v1/relay/servers/next`);
    expect(full).toMatchObject({ status: 503, retryAfter: '1', body: { error: { code: 'no_available_capacity' } } });
    const refused = await pageFetch(`${relay.url}${REQUESTS}`, { method: 'POST', json: fakeRequest(nodeKey).body });
    expect(refused).toMatchObject({ status: 503, body: { error: { code: 'no_available_capacity' } } });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);

    // The node plane answers the preflight without any CORS header, so the browser never sends the POST.
    const intruderKey = newPublicKey();
    const register = await pageFetch(`${relay.url}${REGISTER}`, {
      method: 'POST',
      json: { server_public_key: intruderKey, capabilities: CAPABILITIES },
    });
    expect(register.error).toMatch(/TypeError: Failed to fetch/);
    await relay.waitForAnswer(REGISTER, 204);
    expect(tab.transcript()).toContain(`${relay.url}${REGISTER}' from origin '${origin}' has been blocked by CORS policy`);
    expect(await relay.nodeKeys()).toEqual([nodeKey]);
  });
});
