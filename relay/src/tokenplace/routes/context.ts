/** What every protocol route is given, and the checks the compute-node routes share. */
import type { CidrRange } from '../../cidr.ts';
import type { Clock } from '../../clock.ts';
import type { Lifecycle } from '../../lifecycle.ts';
import type { RelayLogger } from '../../observability.ts';
import { clientAddress } from '../../trusted-proxies.ts';
import type { ServerTokens } from '../auth.ts';
import { hasPlaintextFields, hasUnexpectedFields, isObject, nonEmptyString } from '../envelope.ts';
import type { RateLimitRefusal, RateLimits } from '../rate-limits.ts';
import type { TokenPlaceConfig } from '../settings.ts';
import type { TokenPlaceStore } from '../store.ts';
import type { Wire } from '../wire.ts';

export interface RouteContext {
  config: TokenPlaceConfig;
  trustForwardedHeaders: boolean;
  trustedProxies: readonly CidrRange[];
  store: TokenPlaceStore;
  wire: Wire;
  clock: Clock;
  lifecycle: Lifecycle;
  log: RelayLogger;
  tokens: ServerTokens;
  limits: RateLimits;
}

/** Facts about the connection only the runtime knows. */
export interface Peer {
  clientAddress?: string;
}

export type Route = (request: Request, peer: Peer | undefined) => Promise<Response>;

export const TOKEN_HEADER = 'x-relay-server-token';

export function addressOf(ctx: RouteContext, request: Request, peer: Peer | undefined): string {
  return clientAddress(
    peer?.clientAddress,
    request.headers.get('x-forwarded-for'),
    ctx.trustedProxies,
    ctx.trustForwardedHeaders,
  );
}

/** relay.py's 429 body (Flask-Limiter's shape) with Retry-After. */
export function rateLimited(ctx: RouteContext, refusal: RateLimitRefusal): Response {
  const seconds = Math.max(1, refusal.retryAfterSeconds);
  return ctx.wire.json(
    429,
    {
      error: {
        message: `Rate limit exceeded: ${refusal.rule.text}. Try again in ${seconds} seconds.`,
        type: 'rate_limit_error',
        code: 'rate_limit_exceeded',
        param: null,
      },
    },
    { 'retry-after': String(seconds) },
  );
}

/**
 * The gate in front of every compute-node route: the per-address control-plane budget, then the
 * server token. A wrong token also spends the public quota, so guessing tokens is rate limited.
 * With no token configured the routes are closed unless open registration was chosen.
 */
export async function nodeGate(ctx: RouteContext, request: Request, peer: Peer | undefined): Promise<Response | undefined> {
  const address = addressOf(ctx, request, peer);
  const budget = await ctx.limits.controlPlane(address);
  if (budget !== undefined) return rateLimited(ctx, budget);
  if (!ctx.tokens.configured) {
    if (ctx.config.openRegistration) return undefined;
    return ctx.wire.error(
      403,
      'Compute-node routes are closed: set TOKEN_PLACE_RELAY_SERVER_TOKEN on the relay (or TOKENPLACE_RELAY_OPEN_REGISTRATION=true to let any node register)',
      403,
    );
  }
  if (await ctx.tokens.matches(request.headers.get(TOKEN_HEADER))) return undefined;
  const quota = await ctx.limits.public(address);
  if (quota !== undefined) return rateLimited(ctx, quota);
  ctx.log.warn({ address }, 'compute-node call with a missing or wrong server token');
  return ctx.wire.error(401, 'Missing or invalid relay server token', 401);
}

export function invalidRequest(ctx: RouteContext, status = 400): Response {
  return ctx.wire.error(status, 'Invalid request data', status);
}

export function notFoundNode(ctx: RouteContext): Response {
  return ctx.wire.error(404, 'Server with the specified public key not found', 404);
}

export function invalidCredential(ctx: RouteContext): Response {
  return ctx.wire.error(403, 'Missing or invalid relay server control credential', 403);
}

export function tooLarge(ctx: RouteContext, message: string): Response {
  return ctx.wire.error(413, message, 413, {}, { connection: 'close' });
}

/**
 * relay.py's refusals of a body that is not a ciphertext envelope, in its order: plaintext model
 * fields first, then fields outside the allowlist. Undefined when neither applies.
 */
export function refuseNonEnvelope(ctx: RouteContext, data: unknown, allowServerKey: boolean): Response | undefined {
  if (!isObject(data)) return undefined;
  if (hasPlaintextFields(data)) {
    return ctx.wire.error(400, 'Plaintext relay payload fields are forbidden; send ciphertext envelope only', 400);
  }
  if (hasUnexpectedFields(data, allowServerKey)) {
    return ctx.wire.error(400, 'Unexpected relay payload fields are forbidden; send ciphertext envelope only', 400);
  }
  return undefined;
}

/** A node's public key from a body, or relay.py's 400: "Missing" for an absent or falsy one, "Invalid" for a wrong type. */
export function serverKeyOf(ctx: RouteContext, data: Record<string, unknown>): string | Response {
  const key = data.server_public_key;
  if (key === undefined || key === null || key === '' || key === false || key === 0) {
    return ctx.wire.error(400, 'Missing server public key', 400);
  }
  return nonEmptyString(key) ? key : ctx.wire.error(400, 'Invalid server public key', 400);
}
