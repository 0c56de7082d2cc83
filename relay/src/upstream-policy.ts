/**
 * Which URLs a compute node may register with (TOKENPLACE_RELAY_ALLOWED_UPSTREAMS). A stolen
 * server token must not turn the relay into a proxy to arbitrary hosts, so a URL is refused
 * unless its host is an address inside an allowed CIDR or a host name on the list. With an
 * empty list only private-range addresses (RFC 1918, IPv6 ULA) are allowed, and no host names:
 * a name could resolve to anything. Link-local and cloud metadata addresses are never allowed;
 * the runtime checks what a listed host name resolves to again when it connects.
 */
import { type CidrRange, inRange, NEVER_UPSTREAM, PRIVATE_RANGES, parseCidr, parseIp } from './cidr.ts';

export interface AllowedUpstreams {
  /** The entries as configured, for messages and the startup log. */
  entries: readonly string[];
  cidrs: readonly CidrRange[];
  /** Lowercased exact host names. */
  hosts: ReadonlySet<string>;
  /** Lowercased suffixes (with the leading dot) from `*.example.org` entries. */
  suffixes: readonly string[];
}

const HOST_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Splits a comma- or space-separated list; throws with the offending entry named. */
export function parseAllowedUpstreams(text: string): AllowedUpstreams {
  const entries = text.split(/[\s,]+/).filter((entry) => entry !== '');
  const cidrs: CidrRange[] = [];
  const hosts = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of entries) {
    const lower = entry.toLowerCase();
    if (lower.includes('://')) {
      throw new Error(`${JSON.stringify(entry)} is a URL, neither a CIDR nor a host name: list its host or address`);
    }
    if (/^[0-9.]+(\/\d+)?$/.test(lower) || /^[0-9a-f:.]*:[0-9a-f:.]*(\/\d+)?$/.test(lower)) {
      const range = parseCidr(lower);
      if (range === undefined) throw new Error(`${JSON.stringify(entry)} is not a valid IP address or CIDR`);
      cidrs.push(range);
    } else if (lower.startsWith('*.') && HOST_NAME.test(lower.slice(2))) {
      suffixes.push(lower.slice(1));
    } else if (HOST_NAME.test(lower)) {
      hosts.add(lower);
    } else {
      throw new Error(`${JSON.stringify(entry)} is neither a CIDR nor a host name (a leading "*." allows subdomains)`);
    }
  }
  return { entries, cidrs, hosts, suffixes };
}

export type NodeUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

const refuse = (reason: string): NodeUrlCheck => ({ ok: false, reason });

/** Checks a URL a compute node wants to register with; the reason is safe to send back to the caller. */
export function checkNodeUrl(text: unknown, allowed: AllowedUpstreams): NodeUrlCheck {
  if (typeof text !== 'string' || text === '') return refuse('"url" must be a non-empty string');
  if (text.length > 2048) return refuse('"url" is longer than 2048 characters');
  if (!/^https?:\/\//i.test(text)) return refuse('"url" must be an absolute http:// or https:// URL');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse('"url" is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse('"url" must use http or https');
  if (url.username !== '' || url.password !== '') return refuse('"url" must not carry credentials (user:password@)');
  if (url.search !== '' || url.hash !== '') return refuse('"url" must not have a query string or fragment');

  if (url.port === '0') return refuse('"url" must not use port 0');

  const host = url.hostname;
  const address = parseIp(host);
  if (address !== undefined) {
    if (NEVER_UPSTREAM.some((range) => inRange(address, range))) {
      return refuse(
        `${host} is never allowed (unspecified, broadcast, multicast, link-local or a cloud metadata address), whatever TOKENPLACE_RELAY_ALLOWED_UPSTREAMS says`,
      );
    }
    if (allowed.entries.length === 0) {
      return PRIVATE_RANGES.some((range) => inRange(address, range))
        ? { ok: true, url }
        : refuse(
            `${host} is not a private-range address; with TOKENPLACE_RELAY_ALLOWED_UPSTREAMS empty only 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and fc00::/7 may register`,
          );
    }
    return allowed.cidrs.some((range) => inRange(address, range))
      ? { ok: true, url }
      : refuse(`${host} is not inside any CIDR of TOKENPLACE_RELAY_ALLOWED_UPSTREAMS`);
  }
  if (allowed.entries.length === 0) {
    return refuse(`host names may register only when listed in TOKENPLACE_RELAY_ALLOWED_UPSTREAMS; ${host} is not`);
  }
  const name = host.toLowerCase();
  if (allowed.hosts.has(name) || allowed.suffixes.some((suffix) => name.endsWith(suffix))) return { ok: true, url };
  return refuse(`${host} is not a host name listed in TOKENPLACE_RELAY_ALLOWED_UPSTREAMS`);
}
