import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { integrityMatches, VUE_PROD_URL } from './browser-cdn.ts';
import { PEERS_DIR } from './peer-process.ts';

/** token.place's web client: index.html, chat.js and the scripts beside them. */
export const STATIC_DIR = join(PEERS_DIR, 'token.place', 'static');

/** What relay.py's _render_index_html replaces, and what we put there (relay.py's production frontend mode). */
const VUE_PLACEHOLDER = '__TOKENPLACE_VUE_SCRIPT_SRC__';
const METADATA_PLACEHOLDER = '{"environment":"dev","label":"dev dev","version":"dev"}';
const BADGE_PLACEHOLDER = 'dev dev';
const ASSET_VERSION_PLACEHOLDER = '__TOKENPLACE_ASSET_VERSION__';
export const RELEASE_METADATA = { environment: 'test', label: 'test browser', version: 'test' };
const ASSET_VERSION = 'browser-test';

export interface RenderedIndex {
  html: string;
  /** CDN URLs whose integrity attribute was removed because the npm file we serve has other bytes. */
  integrityRemoved: string[];
}

/**
 * index.html as relay.py renders it, except that a script's `integrity` is dropped when the npm file served in the CDN's
 * place does not match it (cdnjs serves its own minified crypto-js; npm ships no minified build).
 */
export function renderIndex(): RenderedIndex {
  const source = readFileSync(join(STATIC_DIR, 'index.html'), 'utf8');
  for (const placeholder of [VUE_PLACEHOLDER, METADATA_PLACEHOLDER, ASSET_VERSION_PLACEHOLDER]) {
    if (!source.includes(placeholder)) {
      throw new Error(`token.place's index.html no longer contains ${placeholder}: its rendering changed, update renderIndex`);
    }
  }
  const metadata = JSON.stringify(RELEASE_METADATA, Object.keys(RELEASE_METADATA).sort());
  const rendered = source
    .replaceAll(VUE_PLACEHOLDER, VUE_PROD_URL)
    .replaceAll(METADATA_PLACEHOLDER, metadata)
    .replaceAll(BADGE_PLACEHOLDER, RELEASE_METADATA.label)
    .replaceAll(ASSET_VERSION_PLACEHOLDER, ASSET_VERSION);
  const integrityRemoved: string[] = [];
  const html = rendered.replace(/<script\b[^>]*>/g, (tag) => {
    const src = /\bsrc="([^"]*)"/.exec(tag)?.[1];
    const integrity = /\s+integrity="([^"]*)"/.exec(tag);
    if (src === undefined || integrity === null || integrityMatches(src, integrity[1])) return tag;
    integrityRemoved.push(src);
    return tag.replace(integrity[0], '');
  });
  return { html, integrityRemoved };
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/vnd.microsoft.icon',
};

/** Paths a deployment's front origin hands to the relay. */
const RELAY_PREFIXES = ['/api/', '/relay/'];

export interface WebServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The index.html this server hands out. */
  index: RenderedIndex;
  /** Requests the server answered, as "METHOD path status", for failure messages. */
  log(): string[];
  close(): Promise<void>;
}

/**
 * The web client's origin: `/` is the rendered index.html, `/static/*` token.place's static files, `/blank` an empty
 * page, and, when relayUrl is given, `/api/*` and `/relay/*` reverse-proxied to the relay, as a deployment whose page
 * origin fronts the relay would do.
 */
export async function startWebServer(options: { relayUrl?: string } = {}): Promise<WebServer> {
  const index = renderIndex();
  const log: string[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    res.on('finish', () => log.push(`${req.method} ${req.url} ${res.statusCode}`));
    if (options.relayUrl !== undefined && RELAY_PREFIXES.some((prefix) => path.startsWith(prefix))) {
      proxy(req, res, options.relayUrl);
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (path === '/' || path === '/static/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(index.html);
    } else if (path === '/blank') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>another origin</title>');
    } else {
      serveStatic(path, res);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, index, log: () => [...log], close: () => close(server) };
}

function serveStatic(path: string, res: ServerResponse): void {
  const name = /^\/static\/([\w.-]+)$/.exec(path)?.[1];
  const type = name === undefined ? undefined : CONTENT_TYPES[extname(name)];
  if (name === undefined || type === undefined) {
    res.writeHead(404).end();
    return;
  }
  let body: Buffer;
  try {
    body = readFileSync(join(STATIC_DIR, name));
  } catch {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': type }).end(body);
}

function proxy(req: IncomingMessage, res: ServerResponse, relayUrl: string): void {
  const target = new URL(relayUrl);
  const upstream = httpRequest(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host },
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`relay unreachable: ${err.message}`);
  });
  req.pipe(upstream);
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
