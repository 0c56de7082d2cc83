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

// Printable ASCII that WHATWG URL parsing leaves as it is in a path, and in a query of an http(s) URL.
const PLAIN_PATH = /^\/[!$-;=@-[\]_a-z|~]*$/;
const PLAIN_QUERY = /^\?[!$-&(-;=?-~]*$/;
/** Dot segments, "." or "%2e" spelled in any case, which URL parsing resolves. */
const DOT_SEGMENT = /\/\.|%2e/i;

/**
 * The path and query of an absolute http(s) URL, exactly as `new URL(href)` gives them. Nearly
 * every request target is printable ASCII with nothing to resolve or percent-encode, and is then
 * split rather than parsed; any other goes through URL parsing.
 */
export function pathAndQuery(href: string): PathAndQuery {
  const start = href.indexOf('/', href.indexOf('//') + 2);
  if (start !== -1) {
    const queryAt = href.indexOf('?', start);
    const pathname = queryAt === -1 ? href.slice(start) : href.slice(start, queryAt);
    const query = queryAt === -1 ? '' : href.slice(queryAt);
    if (PLAIN_PATH.test(pathname) && !DOT_SEGMENT.test(pathname) && (query === '' || PLAIN_QUERY.test(query))) {
      return { pathname, search: query === '?' ? '' : query };
    }
  }
  const parsed = new URL(href);
  return { pathname: parsed.pathname, search: parsed.search };
}
