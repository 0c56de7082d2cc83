import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';

/**
 * Relay envelopes made up in TypeScript. The relay never decrypts anything, so for what only the relay decides
 * (queueing, cancelling, draining) random bytes stand in for ciphertext; only the keys have token.place's shape.
 */

/** A public key the way token.place sends one: base64 of an RSA SubjectPublicKeyInfo PEM. */
export function newPublicKey(): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return Buffer.from(pem, 'utf8').toString('base64');
}

function randomBase64(bytes: number): string {
  return randomBytes(bytes).toString('base64');
}

export interface FakeRequest {
  clientPublicKey: string;
  requestId: string;
  cancelToken: string;
  /** The body of POST /api/v1/relay/requests. */
  body: Record<string, unknown>;
}

/** A client's request for the node with serverPublicKey, as client.py would post it. */
export function fakeRequest(serverPublicKey: string, clientPublicKey = newPublicKey()): FakeRequest {
  const requestId = `peer-test-${randomUUID()}`;
  const cancelToken = randomBytes(16).toString('hex');
  return {
    clientPublicKey,
    requestId,
    cancelToken,
    body: {
      client_public_key: clientPublicKey,
      server_public_key: serverPublicKey,
      chat_history: randomBase64(96),
      cipherkey: randomBase64(256),
      iv: randomBase64(16),
      request_id: requestId,
      cancel_token: cancelToken,
      protocol: 'tokenplace_api_v1_relay_e2ee',
      version: 1,
    },
  };
}

/** The body of POST /api/v1/relay/responses answering request, as server.py would post it. */
export function fakeResponse(request: FakeRequest): Record<string, unknown> {
  return {
    client_public_key: request.clientPublicKey,
    request_id: request.requestId,
    chat_history: randomBase64(96),
    cipherkey: randomBase64(256),
    iv: randomBase64(16),
    protocol: 'tokenplace_api_v1_relay_e2ee',
    version: 1,
  };
}
