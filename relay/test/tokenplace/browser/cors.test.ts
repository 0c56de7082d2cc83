/**
 * The relay's CORS contract as a real browser enforces it: a page on another origin may drive the public client routes
 * (with preflights, reading Retry-After), and may not drive the compute-node routes.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type BrowserTab, launchChromium, openTab } from '../../helpers/chromium.ts';
import { fakeRequest, newPublicKey } from '../../helpers/fake-envelope.ts';
import { type RelayUnderTest, relayKind } from '../../helpers/relay-under-test.ts';
import { usePeerBench } from '../../helpers/tokenplace-peers.ts';
import { startWebServer, type WebServer } from '../../helpers/tokenplace-web.ts';
import { capabilities } from '../harness.ts';

const REGISTER = '/api/v1/relay/servers/register';
const REQUESTS = '/api/v1/relay/requests';
const NEXT = '/api/v1/relay/servers/next';
const RETRIEVE = '/api/v1/relay/responses/retrieve';

/** What a node serving token.place's default model registers (as server.py's mock does). */
const CAPABILITIES = capabilities({ backend_class: 'cpu' });

const bench = usePeerBench();
let browser: Promise<Browser> | undefined;
let web: Promise<WebServer> | undefined;
let tab: BrowserTab | undefined;

// One browser and one page origin for the file, started by the first test so that a missing chromium fails every test
// (a failing beforeAll would only skip them); each test gets a fresh context: no cookies, cache or preflight cache.
afterAll(async () => {
  await (await browser?.catch(() => undefined))?.close();
  await (await web?.catch(() => undefined))?.close();
});

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') console.error(`what the page did:\n${tab?.transcript() ?? '(no page)'}`);
  await tab?.context.close();
  tab = undefined;
});

/**
 * The relay under test with one registered (fake) node that never polls, and a page on another origin. A queue of one
 * per node, so a second request finds the node full.
 */
async function relayAndPage(serverToken?: string): Promise<{ relay: RelayUnderTest; nodeKey: string; origin: string }> {
  const tokenEnv: Record<string, string> = serverToken === undefined ? {} : { TOKEN_PLACE_RELAY_SERVER_TOKEN: serverToken };
  const relay = await bench().startRelay({ TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE: '1', ...tokenEnv });
  const nodeKey = newPublicKey();
  const tokenHeader: Record<string, string> = serverToken === undefined ? {} : { 'x-relay-server-token': serverToken };
  const registered = await relay.postJson(REGISTER, { server_public_key: nodeKey, capabilities: CAPABILITIES }, tokenHeader);
  expect(registered.status, JSON.stringify(registered.body)).toBe(200);
  browser ??= launchChromium();
  web ??= startWebServer();
  const [started, page] = await Promise.all([browser, web]);
  // No request interception: the preflights must reach the relay and its answers must count.
  tab = await openTab(started, { cdn: false });
  await tab.page.goto(`${page.url}/blank`);
  const origin = new URL(page.url).origin;
  expect(origin).not.toBe(new URL(relay.url).origin);
  return { relay, nodeKey, origin };
}

/** relay.py's 503s for a full node carry no Retry-After at all; against it that test is expected to fail. */
const retryAfterReadable = relayKind() === 'reference' ? it.fails : it;

/** One fetch made by the page: what its script could see, or the error the browser gave it. */
interface Seen {
  status?: number;
  retryAfter?: string | null;
  body?: unknown;
  error?: string;
}

/** Runs fetch(url, init) in the page and reports what the page's script could read. */
/** json is sent as application/json (preflighted); text as text/plain, a "simple" request the browser sends unasked. */
async function pageFetch(url: string, init: { method?: string; json?: unknown; text?: string } = {}): Promise<Seen> {
  if (!tab) throw new Error('no page');
  return tab.page.evaluate(
    async ({ url, method, json, plain }) => {
      try {
        const res = await fetch(url, {
          method,
          cache: 'no-store',
          ...(json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
          ...(plain === undefined ? {} : { body: plain }),
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
    { url, method: init.method ?? 'GET', json: init.json, plain: init.text },
  );
}

describe('the relay from a page on another origin, in Chromium', { timeout: 60_000 }, () => {
  it('the public client routes work cross-origin: servers/next, requests (after a preflight) and retrieve', async () => {
    const { relay, nodeKey } = await relayAndPage();

    const next = await pageFetch(`${relay.url}${NEXT}`);
    expect(next).toMatchObject({ status: 200, body: { server_public_key: nodeKey } });

    // application/json is not a CORS-safelisted content type: the browser asks with a preflight first.
    const request = fakeRequest(nodeKey);
    expect(await pageFetch(`${relay.url}${REQUESTS}`, { method: 'POST', json: request.body })).toMatchObject({ status: 200 });
    await relay.waitForAnswer(REQUESTS, 204);
    const ids = { client_public_key: request.clientPublicKey, request_id: request.requestId };
    const pending = await pageFetch(`${relay.url}${RETRIEVE}`, { method: 'POST', json: ids });
    expect(pending).toMatchObject({ status: 202, body: { status: 'pending' } });
  });

  retryAfterReadable('a 503 from a full node carries a Retry-After the page can read', async () => {
    const { relay, nodeKey } = await relayAndPage();
    expect(await pageFetch(`${relay.url}${REQUESTS}`, { method: 'POST', json: fakeRequest(nodeKey).body })).toMatchObject({
      status: 200,
    });

    // Retry-After is not CORS-safelisted: a script reads it only when the relay exposes it.
    const full = await pageFetch(`${relay.url}${NEXT}`);
    expect(full).toMatchObject({ status: 503, retryAfter: '1', body: { error: { code: 'no_available_capacity' } } });
    const refused = await pageFetch(`${relay.url}${REQUESTS}`, { method: 'POST', json: fakeRequest(nodeKey).body });
    expect(refused).toMatchObject({ status: 503, body: { error: { code: 'no_available_capacity' } } });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
  });

  it('the page cannot register a compute node: the preflight gets no CORS headers and the POST is never sent', async () => {
    const { relay, nodeKey, origin } = await relayAndPage();

    const intruderKey = newPublicKey();
    const register = await pageFetch(`${relay.url}${REGISTER}`, {
      method: 'POST',
      json: { server_public_key: intruderKey, capabilities: CAPABILITIES },
    });

    expect(register.error).toMatch(/TypeError: Failed to fetch/);
    expect(tab?.transcript()).toContain(
      `${relay.url}${REGISTER}' from origin '${origin}' has been blocked by CORS policy: ` +
        "Response to preflight request doesn't pass access control check",
    );
    // Registration is open in peer tests and the relay reads any body as JSON: had the POST arrived, the intruder would be listed.
    expect(await relay.nodeKeys()).toEqual([nodeKey]);
  });

  it('a text/plain POST skips the preflight and reaches the relay: the server token is what refuses it (401)', async () => {
    const { relay, nodeKey } = await relayAndPage('browser-test-token');

    const intruderKey = newPublicKey();
    const register = await pageFetch(`${relay.url}${REGISTER}`, {
      method: 'POST',
      text: JSON.stringify({ server_public_key: intruderKey, capabilities: CAPABILITIES }),
    });

    // The browser sends a CORS-safelisted POST without asking, and only hides the answer from the script.
    expect(register.error).toMatch(/TypeError: Failed to fetch/);
    await relay.waitForAnswer(REGISTER, 401);
    expect(await relay.nodeKeys()).toEqual([nodeKey]);
  });
});
