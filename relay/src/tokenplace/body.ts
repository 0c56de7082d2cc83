/**
 * Reads a protocol route's JSON body with a byte cap, without buffering more than the cap. As in
 * relay.py (Flask's get_json), a body must be declared JSON: a browser can send text/plain across
 * origins without a preflight, so accepting it would let any web page drive the compute-node
 * routes. Errors are relay.py's JSON "Invalid request data", never Flask's HTML page.
 */
import { concatChunks } from '../body-read.ts';

export type BodyResult =
  | { kind: 'json'; value: unknown }
  | { kind: 'malformed' }
  | { kind: 'too_large' }
  | { kind: 'empty' }
  | { kind: 'not_json' };

/** application/json or application/<anything>+json, as Flask's request.is_json. */
export function declaresJson(request: Request): boolean {
  const type = request.headers.get('content-type')?.split(';')[0].trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

export async function readBytes(request: Request, maxBytes: number): Promise<Uint8Array | 'too_large'> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) return 'too_large';
  if (request.body === null) return new Uint8Array(0);
  // A declared length within the cap: the runtime's own collector is much cheaper than a stream reader.
  if (declared !== null && !request.headers.has('transfer-encoding')) return new Uint8Array(await request.arrayBuffer());
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Not cancelled: that would drop the connection before the 413 (sent with connection: close) is written.
      reader.releaseLock();
      return 'too_large';
    }
    chunks.push(value);
  }
  return concatChunks(chunks, total);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function parseJson(bytes: Uint8Array): BodyResult {
  if (bytes.byteLength === 0) return { kind: 'empty' };
  try {
    return { kind: 'json', value: JSON.parse(decoder.decode(bytes)) };
  } catch {
    return { kind: 'malformed' };
  }
}

export async function readJson(request: Request, maxBytes: number): Promise<BodyResult> {
  // An unread body is discarded by the runtime after the answer; cancelling it here would drop the connection first.
  if (!declaresJson(request)) return { kind: 'not_json' };
  const bytes = await readBytes(request, maxBytes);
  return bytes === 'too_large' ? { kind: 'too_large' } : parseJson(bytes);
}
