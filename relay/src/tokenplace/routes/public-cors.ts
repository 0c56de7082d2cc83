/**
 * relay.py's fixed CORS contract for the public client routes: any origin, no credentials,
 * Retry-After readable by scripts. The compute-node routes get no CORS headers at all, so a web
 * page can never drive them from a browser.
 */
const PUBLIC_PATHS = new Set([
  '/api/v1/relay/requests',
  '/api/v1/relay/requests/cancel',
  '/api/v1/relay/responses/retrieve',
  '/api/v1/relay/servers/next',
]);

export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.has(path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path);
}

export const PUBLIC_CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'Retry-After',
};

export const PUBLIC_PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  ...PUBLIC_CORS_HEADERS,
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Accept',
  'access-control-max-age': '600',
};
