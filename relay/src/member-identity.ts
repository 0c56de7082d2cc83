/**
 * Which GPU host a pool member is. One host must be one member, or its capacity is counted once
 * per spelling of its URL (`localhost`, `127.0.0.1`, `[::ffff:127.0.0.1]`): a member is known by
 * the addresses its host resolves to, its port and its base path.
 */
import { parseIp } from './cidr.ts';

/** Resolves a host name to its addresses; the hosting runtime provides it (DNS on Node). */
export type ResolveHost = (host: string) => Promise<string[]>;

function canonicalAddress(text: string): string | undefined {
  const address = parseIp(text);
  return address === undefined ? undefined : `v${address.version}:${address.value.toString(16)}`;
}

/**
 * One key per address the URL's host stands for, `address port path`. A host name that cannot
 * be resolved is known by its lowercased name.
 */
export async function memberIdentity(url: URL, resolve: ResolveHost | undefined): Promise<string[]> {
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  const path = url.pathname.replace(/\/+$/, '');
  const key = (host: string) => `${host} ${port} ${path}`;
  const literal = canonicalAddress(url.hostname);
  if (literal !== undefined) return [key(literal)];
  const name = url.hostname.toLowerCase();
  let addresses: string[] = [];
  try {
    addresses = resolve === undefined ? [] : await resolve(name);
  } catch {
    addresses = [];
  }
  const keys = addresses.map(canonicalAddress).filter((address) => address !== undefined);
  return keys.length === 0 ? [key(`name:${name}`)] : [...new Set(keys)].map(key);
}

/** True when the two members share any address, port and path: the same GPU host. */
export function sameHost(a: readonly string[], b: readonly string[]): boolean {
  return a.some((key) => b.includes(key));
}
