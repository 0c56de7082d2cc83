/**
 * Reads a protocol route's JSON body with a byte cap, without buffering more than the cap.
 * Unlike relay.py, any content type is read as JSON, and a malformed body gets relay.py's JSON
 * "Invalid request data" instead of Flask's HTML error page.
 */
export type BodyResult = { kind: 'json'; value: unknown } | { kind: 'malformed' } | { kind: 'too_large' } | { kind: 'empty' };

export async function readBytes(request: Request, maxBytes: number): Promise<Uint8Array | 'too_large'> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) return 'too_large';
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return 'too_large';
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
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
  const bytes = await readBytes(request, maxBytes);
  return bytes === 'too_large' ? { kind: 'too_large' } : parseJson(bytes);
}
