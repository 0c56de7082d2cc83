/**
 * /relay/servers: compute nodes register (POST), renew (POST again), leave (DELETE /:id), and
 * the pool is listed (GET), all with the X-Relay-Server-Token header. Without a configured
 * token registration is off (403); a missing or wrong token is 401.
 */
import type { Admission } from './admission.ts';
import type { Clock } from './clock.ts';
import { publicUpstream, type RelayConfig, SETTINGS } from './config.ts';
import { FailureThrottle } from './failure-throttle.ts';
import { memberIdentity, type ResolveHost, sameHost } from './member-identity.ts';
import type { RelayLogger } from './observability.ts';
import type { ServerRegistry } from './registry.ts';
import { errorResponse, jsonResponse, type ResponseClass } from './responses.ts';
import { SecretMatcher } from './secret.ts';
import { checkNodeUrl } from './upstream-policy.ts';

export const SERVERS_PATH = '/relay/servers';
/** A registration is a few short fields; anything larger is refused before it is read. */
const MAX_REGISTRATION_BYTES = 4096;
const NAME = /^[\x20-\x7e]{1,64}$/;

export interface ServersRouteDeps {
  config: RelayConfig;
  registry: ServerRegistry;
  admission: Admission;
  clock: Clock;
  log: RelayLogger;
  Response: ResponseClass;
  /** Resolves host names, so that one GPU host reached by different names is recognised. */
  resolveHost?: ResolveHost;
}

type Body = { ok: true; value: unknown } | { ok: false; response: Response };

async function readJson(request: Request, ResponseCtor: ResponseClass): Promise<Body> {
  const tooLarge = () => ({
    ok: false as const,
    response: errorResponse(
      ResponseCtor,
      413,
      'payload_too_large',
      `A registration is at most ${MAX_REGISTRATION_BYTES} bytes of JSON.`,
      { connection: 'close' },
    ),
  });
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > MAX_REGISTRATION_BYTES) return tooLarge();
  let text = '';
  if (request.body !== null) {
    const reader = request.body.getReader();
    const decoder = new TextDecoder();
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_REGISTRATION_BYTES) {
        await reader.cancel().catch(() => undefined);
        return tooLarge();
      }
      text += decoder.decode(value, { stream: true });
    }
    text += decoder.decode();
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return {
      ok: false,
      response: errorResponse(
        ResponseCtor,
        400,
        'invalid_json',
        'The body must be a JSON object such as {"url": "http://10.0.0.7:8000"}.',
      ),
    };
  }
}

export function createServersRoute(deps: ServersRouteDeps): (request: Request, clientAddress?: string) => Promise<Response> {
  const { config, registry, admission, clock, log } = deps;
  const ResponseCtor = deps.Response;
  const pool = admission.pool;
  const matcher = config.serverToken === undefined ? undefined : new SecretMatcher(config.serverToken);
  const staticUrl = publicUpstream(config.upstreamUrl);
  const bad = (code: string, message: string) => errorResponse(ResponseCtor, 400, code, message);

  async function register(request: Request): Promise<Response> {
    const body = await readJson(request, ResponseCtor);
    if (!body.ok) return body.response;
    const input = body.value;
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return bad('invalid_registration', 'The body must be a JSON object.');
    }
    const { url: rawUrl, name: rawName, maxConcurrency: rawMax } = input as Record<string, unknown>;
    const checked = checkNodeUrl(rawUrl, config.allowedUpstreams);
    if (!checked.ok) return bad('upstream_not_allowed', checked.reason);
    const url = publicUpstream(checked.url);
    const identity = await memberIdentity(checked.url, deps.resolveHost);
    if (
      url === staticUrl ||
      (config.upstreamUrl && sameHost(identity, await memberIdentity(config.upstreamUrl, deps.resolveHost)))
    ) {
      return errorResponse(
        ResponseCtor,
        409,
        'static_upstream',
        'That URL names the static upstream (same address, port and path), which is always in the pool.',
      );
    }
    const twin = pool
      .members()
      .find((member) => !member.isStatic && member.publicUrl !== url && sameHost(identity, member.identity));
    if (twin !== undefined) {
      return errorResponse(
        ResponseCtor,
        409,
        'duplicate_upstream',
        `That URL names a GPU host already in the pool (same address, port and path) as ${twin.publicUrl}.`,
      );
    }
    if (rawName !== undefined && (typeof rawName !== 'string' || !NAME.test(rawName))) {
      return bad('invalid_registration', '"name" must be 1 to 64 printable ASCII characters.');
    }
    if (rawMax !== undefined && (typeof rawMax !== 'number' || !Number.isInteger(rawMax) || rawMax < 1 || rawMax > 100_000)) {
      return bad('invalid_registration', '"maxConcurrency" must be a whole number from 1 to 100000.');
    }
    const name = (rawName as string | undefined) ?? checked.url.host;
    const maxConcurrency = (rawMax as number | undefined) ?? config.upstreamMaxConcurrency;
    const result = await registry.register({ url, name, maxConcurrency }, clock.now());
    if (!result.ok) {
      return errorResponse(ResponseCtor, 409, 'registry_full', `At most ${result.limit} compute nodes can be registered.`);
    }
    const { server, created } = result;
    pool.upsert(server).identity = identity;
    // New capacity may serve requests that are waiting.
    admission.dispatch();
    if (created) log.info({ server: { id: server.id, name, url, maxConcurrency } }, 'compute node registered');
    return jsonResponse(
      ResponseCtor,
      created ? 201 : 200,
      {
        id: server.id,
        url: server.url,
        name: server.name,
        maxConcurrency: server.maxConcurrency > 0 ? server.maxConcurrency : null,
        leaseSeconds: config.serverLeaseSeconds,
      },
      { location: `${SERVERS_PATH}/${encodeURIComponent(server.id)}` },
    );
  }

  async function list(): Promise<Response> {
    const now = clock.now();
    pool.sync(await registry.list(now));
    return jsonResponse(ResponseCtor, 200, {
      servers: pool.snapshot(),
      queue: { depth: admission.depth, length: config.queueLength, timeoutMs: config.queueTimeoutMs },
      leaseSeconds: config.serverLeaseSeconds,
    });
  }

  async function remove(id: string): Promise<Response> {
    if (id === pool.static?.id) {
      return errorResponse(
        ResponseCtor,
        409,
        'static_upstream',
        `The static upstream (${SETTINGS.upstreamUrl.name}) cannot be removed.`,
      );
    }
    const removed = await registry.remove(id);
    pool.remove(id);
    if (!removed) return errorResponse(ResponseCtor, 404, 'server_not_found', 'No compute node is registered with that id.');
    log.info({ server: { id } }, 'compute node removed');
    return new ResponseCtor(null, { status: 204, headers: { 'cache-control': 'no-store' } });
  }

  // Ten wrong tokens a minute per address; then 429 until the minute is over, without comparing.
  const throttle = new FailureThrottle({ limit: 10, windowMs: 60_000 });
  let refusedSinceLog = 0;
  let lastLog = Number.NEGATIVE_INFINITY;

  return async (request, clientAddress = 'unknown') => {
    if (matcher === undefined) {
      return errorResponse(
        ResponseCtor,
        403,
        'registration_disabled',
        `Compute-node registration is disabled: set ${SETTINGS.serverToken.name} on the relay to enable it.`,
      );
    }
    const now = clock.now();
    const wait = throttle.retryAfter(clientAddress, now);
    if (wait > 0) {
      return errorResponse(
        ResponseCtor,
        429,
        'too_many_failures',
        'Too many wrong server tokens from this address; retry later.',
        {
          'retry-after': String(wait),
        },
      );
    }
    if (!(await matcher.matches(request.headers.get('x-relay-server-token')))) {
      const exhausted = throttle.failed(clientAddress, now);
      refusedSinceLog++;
      // A signal worth seeing (someone probing for the token), at most one line per 10 s; the value itself is never logged.
      if (now - lastLog >= 10_000 || exhausted) {
        log.warn(
          {
            method: request.method,
            tokenPresent: request.headers.has('x-relay-server-token'),
            clientAddress,
            refused: refusedSinceLog,
            ...(exhausted ? { throttledForSeconds: 60 } : {}),
          },
          'compute-node registration refused: wrong or missing server token',
        );
        lastLog = now;
        refusedSinceLog = 0;
      }
      return errorResponse(ResponseCtor, 401, 'invalid_server_token', 'Missing or wrong X-Relay-Server-Token header.');
    }
    const path = new URL(request.url).pathname;
    const rest = path.slice(SERVERS_PATH.length).replace(/^\/+|\/+$/g, '');
    const method = request.method;
    if (rest === '') {
      if (method === 'POST') return register(request);
      if (method === 'GET' || method === 'HEAD') return list();
      return errorResponse(ResponseCtor, 405, 'method_not_allowed', `${method} is not allowed here.`, {
        allow: 'GET, HEAD, POST',
      });
    }
    if (rest.includes('/')) return errorResponse(ResponseCtor, 404, 'not_found', 'No such resource.');
    if (method === 'DELETE') {
      let id: string;
      try {
        id = decodeURIComponent(rest);
      } catch {
        return errorResponse(ResponseCtor, 404, 'server_not_found', 'No compute node is registered with that id.');
      }
      return remove(id);
    }
    return errorResponse(ResponseCtor, 405, 'method_not_allowed', `${method} is not allowed here.`, { allow: 'DELETE' });
  };
}
