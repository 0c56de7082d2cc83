import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { sendNodeResponse } from '@whatwg-node/server';

/** The parts of @whatwg-node's ponyfill Response that @whatwg-node/server itself reads to send it fast. */
interface PonyfillInternals {
  bodyInit?: unknown;
  headers: Headers & { headersInit?: unknown; _map?: unknown; _setCookies?: unknown[] };
}

function plainHeaders(headers: PonyfillInternals['headers']): OutgoingHttpHeaders | undefined {
  const init = headers.headersInit;
  if (init === null || typeof init !== 'object' || Array.isArray(init)) return undefined;
  // Once a header has been set or read through the Headers API, the init object is stale.
  if (headers._map !== undefined || (headers._setCookies?.length ?? 0) > 0) return undefined;
  if (typeof (init as { get?: unknown }).get === 'function') return undefined;
  return init as OutgoingHttpHeaders;
}

/**
 * Writes a Response to a Node ServerResponse. The proxied case, a Node stream body with plain
 * headers, is written directly: the status line and headers in one call, the body piped with
 * backpressure. @whatwg-node/server would wrap that stream in a web-stream facade and reach the
 * pipe through a Proxy, which costs a noticeable share of a small proxied request. Every other
 * Response goes through @whatwg-node/server's own sender.
 */
export function sendResponse(response: Response, res: ServerResponse, req: IncomingMessage): unknown {
  const internals = response as unknown as PonyfillInternals;
  const body = internals.bodyInit;
  const headers = body instanceof Readable ? plainHeaders(internals.headers) : undefined;
  if (!(body instanceof Readable) || headers === undefined) {
    return sendNodeResponse(response, res, req, true);
  }
  if (res.destroyed || res.writableEnded) {
    body.destroy();
    return undefined;
  }
  res.writeHead(response.status, headers);
  res.on('close', () => {
    // The client left before the body finished: abandon the upstream exchange.
    if (!body.readableEnded) body.destroy();
  });
  body.on('error', (err) => {
    if (!res.destroyed) res.destroy(err);
  });
  // What pipe() does for one source and one destination, without its bookkeeping (seven
  // listeners added and then searched for and removed on every response).
  const resume = () => body.resume();
  body.on('data', (chunk: Buffer) => {
    if (res.write(chunk)) return;
    body.pause();
    res.once('drain', resume);
  });
  body.on('end', () => res.end());
  return undefined;
}
