/**
 * The address a request really comes from. Behind Traefik every request arrives from Traefik's
 * pod, so keying limits on the socket peer would put every browser in one bucket. The proxy's
 * X-Forwarded-For is believed only when the peer is a trusted proxy, and then the client is the
 * rightmost address in it that is not itself a trusted proxy.
 */
import { type CidrRange, inRange, parseIp } from '../cidr.ts';

function trusted(address: string, proxies: readonly CidrRange[]): boolean {
  const parsed = parseIp(address.replace(/^\[|\]$/g, ''));
  return parsed !== undefined && proxies.some((range) => inRange(parsed, range));
}

export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | null,
  proxies: readonly CidrRange[],
  trustForwarded: boolean,
): string {
  const socket = peer ?? 'unknown';
  if (!trustForwarded || forwardedFor === null || !trusted(socket, proxies)) return socket;
  const hops = forwardedFor
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    if (parseIp(hops[i].replace(/^\[|\]$/g, '')) === undefined) return socket;
    if (!trusted(hops[i], proxies)) return hops[i];
  }
  return hops[0] ?? socket;
}
