/**
 * Who may act as a compute node: the shared server token(s) in X-Relay-Server-Token, and the
 * per-node control credential that proves ownership of one registration.
 */
import { SecretMatcher } from '../secret.ts';

export class ServerTokens {
  readonly #matchers: SecretMatcher[];

  constructor(tokens: readonly string[]) {
    this.#matchers = tokens.map((token) => new SecretMatcher(token));
  }

  get configured(): boolean {
    return this.#matchers.length > 0;
  }

  /** Every configured token is compared (in constant time each), so the match position does not show in the timing. */
  async matches(header: string | null): Promise<boolean> {
    const candidate = header?.trim() ?? '';
    if (candidate === '') return false;
    const results = await Promise.all(this.#matchers.map((matcher) => matcher.matches(candidate)));
    return results.includes(true);
  }
}

const encoder = new TextEncoder();

/** Lowercase hex SHA-256 of a control credential: the only form in which the relay keeps it. */
export async function credentialDigest(credential: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(credential)));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** 32 random bytes, base64url without padding (43 characters, like Python's secrets.token_urlsafe(32)). */
export function newCredential(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replaceAll('=', '');
}
