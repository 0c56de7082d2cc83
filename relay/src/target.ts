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

export function upstreamTarget(upstream: URL, requestUrl: string | URL): UpstreamTarget {
  const parsed = typeof requestUrl === 'string' ? new URL(requestUrl) : requestUrl;
  const base = upstream.pathname.endsWith('/') ? upstream.pathname.slice(0, -1) : upstream.pathname;
  return { origin: upstream.origin, path: `${base}${parsed.pathname}${parsed.search}` };
}
