import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { CDN_ORIGINS, cdnFile } from './browser-cdn.ts';

/** Debian's chromium package; TOKENPLACE_CHROMIUM points elsewhere. */
export const CHROMIUM_PATH = process.env.TOKENPLACE_CHROMIUM || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Fails (never skips) when there is no browser to drive. */
export function assertChromiumInstalled(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install --no-install-recommends chromium; ` +
        '.ci/run does) or set TOKENPLACE_CHROMIUM to a Chromium binary',
    );
  }
}

/** Headless Chromium; Playwright gives every launch a fresh temporary profile (user-data dir) and removes it on close. */
export async function launchChromium(): Promise<Browser> {
  assertChromiumInstalled();
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 });
}

export interface BrowserTab {
  page: Page;
  context: BrowserContext;
  /** What the page logged, threw and tried to reach off the machine, for failure messages. */
  transcript(): string;
  /** Off-machine URLs the page asked for that no CDN stand-in answers. */
  offline(): string[];
}

/**
 * A page in a new context. With cdn (the default), its CDN scripts come from node_modules and every other request off
 * the loopback interface fails at once, as it would on an offline machine, but recorded.
 *
 * Without cdn nothing is intercepted. A CORS test needs that: while any route is set, Playwright answers the browser's
 * CORS preflights itself, allowing everything, so the server's own answer would never count.
 */
export async function openTab(browser: Browser, options: { cdn?: boolean } = {}): Promise<BrowserTab> {
  const context = await browser.newContext();
  const lines: string[] = [];
  const offline: string[] = [];
  if (options.cdn ?? true) await serveCdnFromNodeModules(context, offline);
  const page = await context.newPage();
  page.on('console', (message) => lines.push(`console.${message.type()}: ${message.text()}`));
  page.on('pageerror', (err) => lines.push(`page error: ${err.message}`));
  page.on('requestfailed', (request) =>
    lines.push(`failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`),
  );
  return {
    page,
    context,
    transcript: () => [...lines, ...offline.map((url) => `blocked off-machine request: ${url}`)].join('\n'),
    offline: () => [...offline],
  };
}

async function serveCdnFromNodeModules(context: BrowserContext, offline: string[]): Promise<void> {
  const offMachine = (url: URL) => url.hostname !== '127.0.0.1' && url.hostname !== 'localhost';
  await context.route(offMachine, async (route) => {
    const url = route.request().url();
    const body = CDN_ORIGINS.includes(new URL(url).origin) ? cdnFile(url) : undefined;
    if (body === undefined) {
      offline.push(url);
      await route.abort('internetdisconnected');
      return;
    }
    // crossorigin="anonymous" makes the script a CORS request, and Subresource Integrity needs it to pass.
    await route.fulfill({
      status: 200,
      body,
      headers: { 'content-type': 'text/javascript; charset=utf-8', 'access-control-allow-origin': '*' },
    });
  });
}
