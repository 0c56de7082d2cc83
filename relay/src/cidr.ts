/**
 * IP addresses and CIDR ranges, parsed without any runtime library. Used to decide which
 * compute nodes may register (never on the request path).
 */

/** An address as a number (IPv4: 32 bits, IPv6: 128 bits); IPv4-mapped IPv6 addresses are treated as IPv4. */
export interface IpAddress {
  version: 4 | 6;
  value: bigint;
}

export interface CidrRange {
  version: 4 | 6;
  /** Network address with the host bits cleared. */
  network: bigint;
  prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): bigint | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  let value = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = match[i];
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || text.length > 45) return undefined;
  let groups: number[] = [];
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(piece)) return undefined;
      out.push(Number.parseInt(piece, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]);
  if (head === undefined) return undefined;
  if (halves.length === 2) {
    const tail = parseGroups(halves[1]);
    if (tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return undefined;
    groups = head;
  }
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(group);
  return value;
}

const MAPPED_PREFIX = 0xffffn << 32n;

/** Parses a dotted IPv4 address or an IPv6 address (brackets allowed); undefined when it is neither. */
export function parseIp(text: string): IpAddress | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIpv4(bare);
  if (v4 !== undefined) return { version: 4, value: v4 };
  const v6 = parseIpv6(bare);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === MAPPED_PREFIX >> 32n) return { version: 4, value: v6 & 0xffffffffn };
  return { version: 6, value: v6 };
}

/** Parses `a.b.c.d/n`, `v6::/n`, or a bare address (a single-address range); undefined when malformed. */
export function parseCidr(text: string): CidrRange | undefined {
  const slash = text.indexOf('/');
  const address = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const bits = address.version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const rawPrefix = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(rawPrefix)) return undefined;
    prefix = Number(rawPrefix);
    // An IPv4-mapped IPv6 range (::ffff:a.b.c.d/n) becomes the IPv4 range it stands for.
    if (address.version === 4 && !IPV4.test(text.slice(0, slash))) prefix -= 96;
    if (prefix < 0 || prefix > bits) return undefined;
  }
  return { version: address.version, network: address.value & mask(bits, prefix), prefix };
}

function mask(bits: number, prefix: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return prefix === 0 ? 0n : (all >> BigInt(bits - prefix)) << BigInt(bits - prefix);
}

export function inRange(address: IpAddress, range: CidrRange): boolean {
  if (address.version !== range.version) return false;
  return (address.value & mask(address.version === 4 ? 32 : 128, range.prefix)) === range.network;
}

function ranges(...texts: string[]): CidrRange[] {
  return texts.map((text) => parseCidr(text) as CidrRange);
}

/** RFC 1918 private IPv4 ranges and IPv6 unique local addresses: what "private range" means when no list is configured. */
export const PRIVATE_RANGES: readonly CidrRange[] = ranges('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7');

/**
 * Addresses the relay never connects to, whatever TOKENPLACE_RELAY_ALLOWED_UPSTREAMS says:
 * unspecified, broadcast and multicast (no compute node has them), and link-local, where cloud
 * metadata services answer (169.254.169.254 on AWS, GCP and Azure; fd00:ec2::254 is AWS's over
 * IPv6, fd20:ce::254 GCP's; 100.100.100.200 Alibaba's), handing out credentials to whoever asks.
 */
export const NEVER_UPSTREAM: readonly CidrRange[] = ranges(
  '0.0.0.0/8',
  '255.255.255.255/32',
  '224.0.0.0/4',
  '169.254.0.0/16',
  '100.100.100.200/32',
  '::/128',
  'ff00::/8',
  'fe80::/10',
  'fd00:ec2::254/128',
  'fd20:ce::254/128',
);

/** True for an address the relay never connects to (see NEVER_UPSTREAM); false for anything else, names included. */
export function neverUpstream(text: string): boolean {
  const address = parseIp(text);
  return address !== undefined && NEVER_UPSTREAM.some((range) => inRange(address, range));
}
