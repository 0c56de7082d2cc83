/**
 * Comparison of a presented secret with the configured one in constant time: both are hashed
 * (SHA-256, WebCrypto) and the digests compared without an early exit, so neither the position
 * of the first wrong byte nor the secret's length shows in the timing.
 */
const encoder = new TextEncoder();

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

export class SecretMatcher {
  readonly #expected: Promise<Uint8Array>;

  constructor(secret: string) {
    this.#expected = digest(secret);
  }

  async matches(candidate: string | null | undefined): Promise<boolean> {
    // A missing value is hashed too, so it takes the same time as a wrong one.
    const [expected, actual] = await Promise.all([this.#expected, digest(candidate ?? '')]);
    let difference = candidate == null ? 1 : 0;
    for (let i = 0; i < expected.length; i++) difference |= expected[i] ^ actual[i];
    return difference === 0;
  }
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(authorization: string | null): string | null {
  if (authorization === null) return null;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return match ? match[1] : null;
}
