/**
 * Header rules of a reverse proxy (RFC 9110 section 7.6.1): hop-by-hop headers
 * describe one connection and never cross the relay, in either direction.
 */

export type HeaderRecord = Record<string, string | string[]>;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Request headers the relay consumes itself or that its HTTP client must own. */
const NOT_FORWARDED_UPSTREAM = new Set([
  'host',
  // The client library answers 100-continue itself; forwarding it would make the upstream wait for nothing.
  'expect',
  // The relay's own registration secret is meant for the relay, never for a GPU host.
  'x-relay-server-token',
  // Set by the relay from what it observed.
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
]);

/** Client claims about earlier hops, passed on only when the peer is trusted to have set them. */
const FORWARDING_CLAIMS = new Set(['forwarded', 'x-real-ip', 'x-forwarded-port', 'x-forwarded-prefix']);

/** The last Connection value parsed and its names: nearly every message carries the same one ("keep-alive"). */
let lastConnection = '';
let lastNamed: Set<string> | undefined;

function namedByConnection(value: string | string[] | null | undefined): Set<string> | undefined {
  if (value == null) return undefined;
  if (value === lastConnection) return lastNamed;
  const named = parseConnection(value);
  if (typeof value === 'string') {
    lastConnection = value;
    lastNamed = named;
  }
  return named;
}

function parseConnection(value: string | string[]): Set<string> | undefined {
  const joined = Array.isArray(value) ? value.join(',') : value;
  const names = new Set<string>();
  for (const token of joined.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names.size > 0 ? names : undefined;
}

export function isHopByHop(name: string, connectionNamed?: Set<string>): boolean {
  return HOP_BY_HOP.has(name) || (connectionNamed?.has(name) ?? false);
}

export interface ForwardingFacts {
  clientAddress: string | undefined;
  /** Scheme and host the relay itself was reached with. */
  protocol: string;
  host: string | undefined;
  requestId: string;
  trustForwardedHeaders: boolean;
}

/**
 * A request's headers: the Request's Headers, or the record the runtime parsed them into (lower-case
 * names, a list for a repeated Set-Cookie), which is cheaper to read when the runtime has it.
 */
export type RequestHeaderSource = Headers | Readonly<Record<string, string | string[] | undefined>>;

function isHeaders(source: RequestHeaderSource): source is Headers {
  return typeof (source as Headers).forEach === 'function' && typeof (source as Headers).get === 'function';
}

/** One header's value, as Headers.get gives it. */
export function headerValue(source: RequestHeaderSource, name: string): string | null {
  if (isHeaders(source)) return source.get(name);
  const value = source[name];
  if (value === undefined) return null;
  return typeof value === 'string' ? value : value.join(', ');
}

/** Builds the header set sent to the upstream from the client's request headers. */
export function upstreamRequestHeaders(incoming: RequestHeaderSource, facts: ForwardingFacts): HeaderRecord {
  const connectionNamed = namedByConnection(headerValue(incoming, 'connection'));
  const out: HeaderRecord = {};
  const trusted = facts.trustForwardedHeaders;
  const keep = (value: string | string[], name: string) => {
    if (isHopByHop(name, connectionNamed) || NOT_FORWARDED_UPSTREAM.has(name)) return;
    if (!trusted && FORWARDING_CLAIMS.has(name)) return;
    out[name] = value;
  };
  if (isHeaders(incoming)) incoming.forEach(keep);
  else
    for (const name in incoming) {
      const value = incoming[name];
      if (value !== undefined) keep(value, name);
    }

  const priorFor = trusted ? headerValue(incoming, 'x-forwarded-for') : null;
  const peer = facts.clientAddress ?? 'unknown';
  out['x-forwarded-for'] = priorFor ? `${priorFor}, ${peer}` : peer;
  const priorProto = trusted ? headerValue(incoming, 'x-forwarded-proto') : null;
  out['x-forwarded-proto'] = priorProto || facts.protocol;
  const priorHost = trusted ? headerValue(incoming, 'x-forwarded-host') : null;
  const host = priorHost || facts.host;
  if (host) out['x-forwarded-host'] = host;
  out['x-request-id'] = facts.requestId;
  return out;
}

/** Copies upstream response headers minus the hop-by-hop ones; values, including set-cookie lists, are kept as they are. */
export function downstreamResponseHeaders(upstream: HeaderRecord, requestId: string): HeaderRecord {
  const connectionNamed = namedByConnection(upstream.connection);
  const out: HeaderRecord = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || isHopByHop(name, connectionNamed)) continue;
    out[name] = value;
  }
  out['x-request-id'] = requestId;
  return out;
}
