/**
 * Builds the upstream target for a request. The origin always comes from the configured
 * upstream; only the path and query of the request are used, after WHATWG URL parsing has
 * resolved dot segments, so "..", "//host" and absolute-form targets cannot leave the upstream
 * or climb out of its base path.
 */
export interface UpstreamTarget {
  origin: string;
  /** Starts with "/"; base path of the upstream, then the request's path and query. */
  path: string;
}

export function upstreamTarget(upstream: URL, requestUrl: string | PathAndQuery): UpstreamTarget {
  const parsed = typeof requestUrl === 'string' ? new URL(requestUrl) : requestUrl;
  const base = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname;
  return { origin: upstream.origin, path: `${base}${parsed.pathname}${parsed.search}` };
}

/** What URL#pathname and URL#search give for a request URL: all of it the relay forwards. */
export interface PathAndQuery {
  pathname: string;
  search: string;
}

/**
 * Where an absolute URL's path starts as written (-1: it has none), where its query starts
 * (-1: none), and where both end (at a fragment, or at the end).
 */
function targetBounds(href: string): { start: number; queryAt: number; end: number } {
  const start = href.indexOf('/', href.indexOf('//') + 2);
  if (start === -1) return { start, queryAt: -1, end: href.length };
  const hash = href.indexOf('#', start);
  const end = hash === -1 ? href.length : hash;
  const queryAt = href.indexOf('?', start);
  return { start, queryAt: queryAt !== -1 && queryAt < end ? queryAt : -1, end };
}

/** The path of an absolute URL as written, split rather than parsed (routing's hot path): dot segments stay. */
export function pathnameOf(href: string): string {
  const { start, queryAt, end } = targetBounds(href);
  if (start === -1) return '/';
  return href.slice(start, queryAt === -1 ? end : queryAt);
}

/** The query of an absolute URL as written ("?…", or "" without one), the fragment left out. */
export function queryOf(href: string): string {
  const { start, queryAt, end } = targetBounds(href);
  return start === -1 || queryAt === -1 ? '' : href.slice(queryAt, end);
}

// Printable ASCII that WHATWG URL parsing leaves as it is in a path, and in a query of an http(s) URL.
const PLAIN_PATH = /^\/[!$-;=@-[\]_a-z|~]*$/;
const PLAIN_QUERY = /^\?[!$-&(-;=?-~]*$/;
/** Dot segments, "." or "%2e" spelled in any case, which URL parsing resolves. */
const DOT_SEGMENT = /\/\.|%2e/i;

/** The last scheme and authority confirmed plain: nearly every request names the same one, so it is parsed once. */
let lastPlainOrigin = '';

/**
 * True when, after this scheme and authority, URL parsing starts an http(s) URL's path exactly
 * where the split does (no "?", "#" or backslash in the authority moves it), and the authority parses.
 */
function isPlainOrigin(origin: string): boolean {
  if (origin === lastPlainOrigin) return true;
  try {
    const probe = new URL(`${origin}/x`);
    const http = probe.protocol === 'http:' || probe.protocol === 'https:';
    if (!http || probe.pathname !== '/x' || probe.search !== '' || probe.hash !== '') return false;
  } catch {
    return false;
  }
  lastPlainOrigin = origin;
  return true;
}

/**
 * The path and query of an absolute http(s) URL, exactly as `new URL(href)` gives them. Nearly
 * every request target is printable ASCII with nothing to resolve or percent-encode, and is then
 * split rather than parsed; any other goes through URL parsing.
 */
export function pathAndQuery(href: string): PathAndQuery {
  const { start, queryAt, end } = targetBounds(href);
  if (start !== -1 && end === href.length && isPlainOrigin(href.slice(0, start))) {
    const pathname = queryAt === -1 ? href.slice(start) : href.slice(start, queryAt);
    const query = queryAt === -1 ? '' : href.slice(queryAt);
    if (PLAIN_PATH.test(pathname) && !DOT_SEGMENT.test(pathname) && (query === '' || PLAIN_QUERY.test(query))) {
      return { pathname, search: query === '?' ? '' : query };
    }
  }
  const parsed = new URL(href);
  return { pathname: parsed.pathname, search: parsed.search };
}
