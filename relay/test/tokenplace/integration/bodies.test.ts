/** Body limits of the protocol routes through a real socket: a streamed (chunked) body over the cap still gets its 413. */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RelayProcess, startRelay } from '../../helpers/relay-process.ts';

let relay: RelayProcess;

beforeAll(async () => {
  relay = await startRelay({ TOKEN_PLACE_RELAY_SERVER_TOKEN: 't', TOKENPLACE_RELAY_MAX_ENVELOPE_BYTES: '4096' });
});

afterAll(async () => {
  await relay?.stop();
});

/** POSTs body in chunks (no content-length) and resolves with the status and body the relay answered. */
function postChunked(path: string, body: string, contentType = 'application/json'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${relay.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, 'x-relay-server-token': 't' },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 1024) req.write(body.slice(i, i + 1024));
    req.end();
  });
}

describe('protocol bodies through a real socket', () => {
  it.each([
    ['/api/v1/relay/requests', 'Request envelope too large'],
    ['/api/v1/relay/responses', 'Response envelope too large'],
    ['/api/v1/relay/progress', 'Progress envelope too large'],
  ])('%s answers 413 to a chunked body over its cap', async (path, message) => {
    const reply = await postChunked(path, JSON.stringify({ ciphertext: 'x'.repeat(40_000) }));
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.text)).toEqual({ error: { message, code: 413 } });
  });

  it('answers 400 to a body not declared JSON, and keeps serving', async () => {
    const reply = await postChunked('/api/v1/relay/servers/register', '{"server_public_key":"k"}', 'text/plain');
    expect(reply).toEqual({ status: 400, text: JSON.stringify({ error: { message: 'Invalid request data', code: 400 } }) });
    expect((await fetch(`${relay.url}/livez`)).status).toBe(200);
  });
});
