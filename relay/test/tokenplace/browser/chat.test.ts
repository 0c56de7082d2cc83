/**
 * token.place's real web client (index.html + chat.js, Vue, JSEncrypt, CryptoJS) in headless Chromium, served from a
 * page origin that reverse-proxies /api/* and /relay/* to the relay under test, chatting with a real server.py (mock LLM).
 */
import { createHash } from 'node:crypto';
import type { Browser, Locator } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { type BrowserTab, launchChromium, openTab } from '../../helpers/chromium.ts';
import { usePeerBench } from '../../helpers/tokenplace-peers.ts';
import { startWebServer, type WebServer } from '../../helpers/tokenplace-web.ts';

const bench = usePeerBench();
let browser: Browser | undefined;
let web: WebServer | undefined;
let tab: BrowserTab | undefined;

afterEach(async (context) => {
  if (context.task.result?.state === 'fail') {
    console.error(
      `what the page did:\n${tab?.transcript() ?? '(no page)'}\nwhat the page origin served:\n${web?.log().join('\n')}`,
    );
  }
  await browser?.close();
  await web?.close();
  browser = undefined;
  web = undefined;
  tab = undefined;
});

/** chat.js's label for the node it picked: "Server: " and the ends of the SHA-256 of the base64 key. */
function serverKeyLabel(base64Key: string): string {
  const hex = createHash('sha256').update(base64Key.replace(/\s+/g, '')).digest('hex');
  return `Server: ${hex.slice(0, 8)}…${hex.slice(-8)}`;
}

describe("token.place's web client in Chromium, through the relay", { timeout: 60_000 }, () => {
  it('a chat typed into the page is answered by server.py: the page shows "Mock Response"', async () => {
    const relay = await bench().startRelay();
    const node = bench().startNode();
    const [serverKey] = await Promise.all([node.registered(), startBrowser(relay.url)]);
    if (!tab || !web) throw new Error('the browser did not start');
    const { page } = tab;

    await page.goto(web.url);
    // chat.js polls /relay/diagnostics every second and shows the count of registered nodes.
    await page.getByText('Live compute nodes: 1').waitFor({ timeout: 15_000 });
    const input = page.getByRole('textbox', { name: 'Message' });
    await input.fill('What is the capital of France?');
    // Send is enabled once JSEncrypt has made the page's 2048-bit key pair and the model list has settled.
    await page.locator('.send-button:not([disabled])').waitFor({ timeout: 20_000 });
    await input.press('Enter');

    const answer = page.locator('.assistant-message').first();
    await answer.waitFor({ timeout: 30_000 });
    expect(await shownText(answer)).toMatch(/^Mock Response: /);
    expect(await shownText(page.locator('.user-message'))).toBe('What is the capital of France?');
    expect(await shownText(page.getByTestId('landing-server-key-label'))).toBe(serverKeyLabel(serverKey));

    // The page only spoke to its own origin, which handed the relay routes to the relay under test. (Our relay has no
    // /api/v1/models, which relay.py serves: chat.js then says so and falls back to its emergency model, qwen3-8b-instruct.)
    const served = web.log();
    for (const call of [
      'GET /api/v1/relay/servers/next',
      'POST /api/v1/relay/requests ',
      'POST /api/v1/relay/responses/retrieve',
    ]) {
      expect(served.some((line) => line.startsWith(call) && line.endsWith(' 200'))).toBe(true);
    }
    await relay.waitForAnswer('/api/v1/relay/responses/retrieve', 200);
    expect(tab.offline()).toEqual([]);
    // npm ships no minified crypto-js, so its CDN integrity cannot hold; JSEncrypt's npm file matches its hash and keeps it.
    expect(web.index.integrityRemoved).toEqual(['https://cdnjs.cloudflare.com/ajax/libs/crypto-js/4.2.0/crypto-js.min.js']);
  });
});

/** An element's text without the whitespace of Vue's template around it. */
async function shownText(element: Locator): Promise<string | undefined> {
  return (await element.textContent())?.trim();
}

async function startBrowser(relayUrl: string): Promise<void> {
  web = await startWebServer({ relayUrl });
  browser = await launchChromium();
  tab = await openTab(browser);
}
