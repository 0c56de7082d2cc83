/**
 * CORS for browser clients (TOKENPLACE_RELAY_CORS_ORIGINS). Exact origins only; `*` only without
 * credentials. Preflights are answered by the relay itself and never reach the GPU host; every
 * other response gets the allow headers when its Origin is allowed, and `Vary: Origin` always.
 */

export interface CorsConfig {
  /** '*' for any origin, else the exact serialized origins allowed. */
  origins: '*' | ReadonlySet<string>;
  credentials: boolean;
}

/** Parses the origins list; throws with a message about the offending entry. */
export function parseCorsOrigins(text: string): '*' | Set<string> | undefined {
  const entries = text.split(/[\s,]+/).filter((entry) => entry !== '');
  if (entries.length === 0) return undefined;
  if (entries.includes('*')) {
    if (entries.length > 1) throw new Error('"*" allows every origin and cannot be combined with a list');
    return '*';
  }
  const origins = new Set<string>();
  for (const entry of entries) {
    let url: URL | undefined;
    try {
      url = /^https?:\/\//i.test(entry) ? new URL(entry) : undefined;
    } catch {
      url = undefined;
    }
    if (url === undefined) throw new Error(`${JSON.stringify(entry)} is not an http(s) origin such as https://app.example.org`);
    if (url.origin !== entry) {
      throw new Error(`${JSON.stringify(entry)} is not an exact origin: write it as ${url.origin} (scheme, host, port; no path)`);
    }
    origins.add(entry);
  }
  return origins;
}

const ALLOWED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** Headers a browser script may read besides the CORS-safelisted ones. */
const EXPOSE_HEADERS = 'x-request-id, retry-after';
/** A list of header names (tokens), as a preflight names them; anything else is not reflected. */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
const PREFLIGHT_MAX_AGE = '600';

export type PreflightAnswer =
  | { allowed: true; headers: Record<string, string> }
  | { allowed: false; reason: string; headers: Record<string, string> };

export class CorsPolicy {
  readonly #origins: '*' | ReadonlySet<string>;
  readonly #credentials: boolean;

  constructor(config: CorsConfig) {
    this.#origins = config.origins;
    this.#credentials = config.credentials;
  }

  /** The value of Access-Control-Allow-Origin for this request origin, or undefined when it is not allowed. */
  allowOrigin(origin: string): string | undefined {
    if (this.#origins === '*') return '*';
    return this.#origins.has(origin) ? origin : undefined;
  }

  /** A CORS preflight: OPTIONS with Origin and Access-Control-Request-Method. */
  static isPreflight(request: Request): boolean {
    return request.method === 'OPTIONS' && request.headers.has('origin') && request.headers.has('access-control-request-method');
  }

  preflight(request: Request): PreflightAnswer {
    const origin = request.headers.get('origin') ?? '';
    const method = (request.headers.get('access-control-request-method') ?? '').trim();
    const vary = { vary: PREFLIGHT_VARY };
    const allowOrigin = this.allowOrigin(origin);
    if (allowOrigin === undefined) return { allowed: false, reason: `Origin ${origin} is not allowed.`, headers: vary };
    if (!ALLOWED_METHODS.has(method)) return { allowed: false, reason: `Method ${method} is not allowed.`, headers: vary };
    const headers: Record<string, string> = {
      ...vary,
      'access-control-allow-origin': allowOrigin,
      'access-control-allow-methods': ALLOW_METHODS,
      'access-control-max-age': PREFLIGHT_MAX_AGE,
    };
    const requested = request.headers.get('access-control-request-headers');
    if (requested !== null && requested.length <= 1024 && HEADER_LIST.test(requested.trim())) {
      headers['access-control-allow-headers'] = requested.trim();
    }
    if (this.#credentials) headers['access-control-allow-credentials'] = 'true';
    return { allowed: true, headers };
  }

  /**
   * Sets the CORS headers of an actual (non-preflight) response. Whatever the GPU host said about
   * CORS is replaced: the relay's configuration is the one policy browsers see.
   */
  apply(headers: Headers, origin: string | null): void {
    const vary = headers.get('vary');
    if (vary === null) headers.set('vary', 'Origin');
    else if (vary.trim() !== '*' && !/(^|,)\s*origin\s*(,|$)/i.test(vary)) headers.set('vary', `${vary}, Origin`);
    const allowOrigin = origin === null ? undefined : this.allowOrigin(origin);
    if (allowOrigin === undefined) {
      headers.delete('access-control-allow-origin');
      headers.delete('access-control-allow-credentials');
      headers.delete('access-control-expose-headers');
      return;
    }
    headers.set('access-control-allow-origin', allowOrigin);
    headers.set('access-control-expose-headers', EXPOSE_HEADERS);
    if (this.#credentials) headers.set('access-control-allow-credentials', 'true');
    else headers.delete('access-control-allow-credentials');
  }
}
