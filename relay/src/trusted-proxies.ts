/**
 * Which peers may speak for earlier hops. Behind Traefik every request arrives from Traefik's pod,
 * so the client's address, scheme and host are only known from the forwarded headers Traefik sets;
 * anyone else could set the same headers to lie. TOKENPLACE_RELAY_TRUSTED_PROXIES lists the peers
 * (addresses and CIDRs) believed, for both the HTTP path's X-Forwarded-*, Forwarded and X-Real-IP
 * and the client address the token.place routes key their rate limits on.
 */
import { type CidrRange, inRange, PRIVATE_RANGES, parseCidr, parseIp } from './cidr.ts';

const LOOPBACK: readonly CidrRange[] = [parseCidr('127.0.0.0/8') as CidrRange, parseCidr('::1/128') as CidrRange];

/** Unset: loopback and private ranges (a proxy in the same cluster or host); "none": nobody. */
export const DEFAULT_TRUSTED_PROXIES: readonly CidrRange[] = [...LOOPBACK, ...PRIVATE_RANGES];

/** Parses the setting's value: comma-separated addresses or CIDRs, or "none"; throws with the entry that is neither. */
export function parseTrustedProxies(value: string | undefined): readonly CidrRange[] {
  if (value === undefined) return DEFAULT_TRUSTED_PROXIES;
  if (value.trim().toLowerCase() === 'none') return [];
  return value.split(',').map((entry) => {
    const range = parseCidr(entry.trim());
    if (range === undefined) throw new Error(`not a CIDR: ${JSON.stringify(entry.trim())}`);
    return range;
  });
}

export function isTrustedProxy(address: string | undefined, proxies: readonly CidrRange[]): boolean {
  if (address === undefined || proxies.length === 0) return false;
  const parsed = parseIp(address.replace(/^\[|\]$/g, ''));
  return parsed !== undefined && proxies.some((range) => inRange(parsed, range));
}

/**
 * isTrustedProxy for the request path: the peers a relay sees are few (the proxy pods in front),
 * so the answer per address is cached instead of parsing the address for every request.
 */
export function trustedPeerCheck(proxies: readonly CidrRange[], maxEntries = 1024): (address: string | undefined) => boolean {
  const known = new Map<string, boolean>();
  return (address) => {
    if (address === undefined || proxies.length === 0) return false;
    let trusted = known.get(address);
    if (trusted === undefined) {
      trusted = isTrustedProxy(address, proxies);
      if (known.size >= maxEntries) known.clear();
      known.set(address, trusted);
    }
    return trusted;
  };
}

/**
 * The address a request really comes from: X-Forwarded-For is believed only when the peer is a
 * trusted proxy, and then the client is the rightmost address in it that is not itself a trusted proxy.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | null,
  proxies: readonly CidrRange[],
  trustForwarded: boolean,
): string {
  const socket = peer ?? 'unknown';
  if (!trustForwarded || forwardedFor === null || !isTrustedProxy(socket, proxies)) return socket;
  const hops = forwardedFor
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    if (parseIp(hops[i].replace(/^\[|\]$/g, '')) === undefined) return socket;
    if (!isTrustedProxy(hops[i], proxies)) return hops[i];
  }
  return hops[0] ?? socket;
}
