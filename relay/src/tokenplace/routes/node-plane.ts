/**
 * The compute-node control plane: registration, control polls, encrypted responses and progress,
 * unregistration. (The long poll has its own module.) Every route passes nodeGate first.
 */
import { credentialDigest, newCredential } from '../auth.ts';
import { declaresJson, parseJson, readBytes, readJson } from '../body.ts';
import { normaliseCapabilities } from '../capabilities.ts';
import { checkProgress, extractEnvelope, isObject, MAX_IDENTIFIER_LENGTH, nonEmptyString } from '../envelope.ts';
import { CONTROL_NEXT_POLL_MAX_SECONDS, deadlineFields, fingerprint, PROGRESS_MAX_BYTES } from '../wire.ts';
import {
  invalidCredential,
  invalidRequest,
  nodeGate,
  type Route,
  type RouteContext,
  refuseNonEnvelope,
  serverKeyOf,
  tooLarge,
} from './context.ts';

/** relay.py's bounded hint for the next control poll. */
export function nextControlPollSeconds(ctx: RouteContext, hint?: number): number {
  let base = Math.min(ctx.config.pollWaitSeconds, CONTROL_NEXT_POLL_MAX_SECONDS);
  if (hint !== undefined) base = Math.min(base, hint);
  return Math.max(base, 1);
}

export function createNodePlane(
  ctx: RouteContext,
): Record<'register' | 'control' | 'responses' | 'progress' | 'unregister' | 'legacyUnregister', Route> {
  const { wire, store, clock, log } = ctx;
  const inFlightTtlMs = ctx.config.inFlightTtlSeconds * 1000;

  const register: Route = async (request, peer) => {
    const refused = await nodeGate(ctx, request, peer);
    if (refused) return refused;
    const body = await readJson(request, ctx.config.maxEnvelopeBytes);
    if (body.kind === 'too_large') return tooLarge(ctx, 'Registration body too large');
    const data = body.kind === 'json' ? body.value : undefined;
    if (!isObject(data)) return invalidRequest(ctx);
    const publicKey = serverKeyOf(ctx, data);
    if (typeof publicKey !== 'string') return publicKey;
    const checked = normaliseCapabilities(data.capabilities);
    if (!checked.ok) return wire.error(400, checked.message, 'invalid_capabilities');

    const credential = newCredential();
    const leaseSeconds = ctx.config.nodeLeaseSeconds;
    const result = await store.registerNode(
      { publicKey, capabilities: checked.capabilities, leaseSeconds, credentialDigest: await credentialDigest(credential) },
      clock.now(),
    );
    if (!result.ok) {
      return wire.error(
        503,
        `This relay already has its limit of ${ctx.config.maxNodes} compute nodes.`,
        'relay_node_capacity',
        {},
        { 'retry-after': String(leaseSeconds) },
      );
    }
    log.info(
      { node: fingerprint(publicKey), event: result.created ? 'server.registered' : 'server.reregister' },
      'compute node registered',
    );
    return wire.json(200, {
      next_ping_in_x_seconds: leaseSeconds,
      poll_wait_seconds: ctx.config.pollWaitSeconds,
      relay_capabilities: { encrypted_progress_v1: true },
      // Issued once; re-registration never discloses or rotates it.
      ...(result.created ? { control_credential: credential } : {}),
    });
  };

  const control: Route = async (request, peer) => {
    const refused = await nodeGate(ctx, request, peer);
    if (refused) return refused;
    await store.sweep(clock.now());
    const body = await readJson(request, 64 * 1024);
    const data = body.kind === 'json' ? body.value : undefined;
    if (!isObject(data)) return invalidRequest(ctx);
    const { server_public_key: nodeKey, request_id: requestId, control_credential: credential } = data;
    if (!nonEmptyString(nodeKey) || !nonEmptyString(requestId)) return invalidRequest(ctx);
    const acknowledge = data.acknowledge === true || data.ack === true;
    const digest = typeof credential === 'string' && credential !== '' ? await credentialDigest(credential) : '';
    const now = clock.now();
    const result = await store.control(nodeKey, requestId, digest, acknowledge, inFlightTtlMs, now);
    switch (result.kind) {
      case 'forbidden':
        return invalidCredential(ctx);
      case 'active':
        return wire.json(200, {
          status: 'active',
          next_poll_seconds: nextControlPollSeconds(ctx, Math.max(ctx.config.inFlightTtlSeconds / 2, 1)),
          ...deadlineFields(result.deadline, now),
        });
      case 'terminal':
        return wire.json(200, {
          status: result.status,
          next_poll_seconds: nextControlPollSeconds(ctx),
          ...deadlineFields(result.deadline, now),
        });
      case 'unavailable':
        return wire.json(200, { status: 'completed/unavailable', next_poll_seconds: nextControlPollSeconds(ctx) });
    }
  };

  const responses: Route = async (request, peer) => {
    const refused = await nodeGate(ctx, request, peer);
    if (refused) return refused;
    const body = await readJson(request, ctx.config.maxEnvelopeBytes);
    if (body.kind === 'too_large') return tooLarge(ctx, 'Response envelope too large');
    if (body.kind !== 'json') return invalidRequest(ctx);
    const data = body.value;
    const refusal = refuseNonEnvelope(ctx, data, false);
    if (refusal) return refusal;
    if (!isObject(data)) return invalidRequest(ctx);
    const checked = extractEnvelope(data);
    if (!checked.ok || !nonEmptyString(data.client_public_key) || !nonEmptyString(data.request_id, MAX_IDENTIFIER_LENGTH)) {
      return invalidRequest(ctx);
    }
    const { envelope } = checked;
    if (checked.cancelToken !== undefined) envelope.cancel_token = checked.cancelToken;
    const result = await store.storeResponse(envelope, clock.now());
    if (result.kind === 'gone') {
      return wire.error(410, 'Request is no longer waiting for a response', result.status, { status: result.status });
    }
    if (result.kind === 'duplicate') return wire.json(200, { message: 'Response already queued for client' });
    log.info({ client: fingerprint(envelope.client_public_key) }, 'encrypted response queued for the client');
    return wire.json(200, { message: 'Response received and queued for client' });
  };

  const progress: Route = async (request, peer) => {
    // Bounded before anything else, as relay.py does, so an oversized body is never buffered.
    const bytes = await readBytes(request, PROGRESS_MAX_BYTES);
    if (bytes === 'too_large') return tooLarge(ctx, 'Progress envelope too large');
    const refused = await nodeGate(ctx, request, peer);
    if (refused) return refused;
    const parsed = declaresJson(request) ? parseJson(bytes) : ({ kind: 'not_json' } as const);
    const checked = checkProgress(parsed.kind === 'json' ? parsed.value : undefined);
    if (!checked.ok) return wire.error(400, checked.message, 400);
    const digest = await credentialDigest(checked.credential);
    const result = await store.storeProgress(
      checked.serverKey,
      digest,
      checked.clientKey,
      checked.requestId,
      checked.envelope,
      clock.now(),
    );
    if (result === 'forbidden') return invalidCredential(ctx);
    if (result === 'inactive') return wire.error(410, 'Progress request is not active for this owner', 410);
    if (result === 'expired') return wire.error(410, 'Progress request has expired', 410);
    return wire.json(202, { message: 'Encrypted progress accepted' });
  };

  function unregisterRoute(legacy: boolean): Route {
    const bad = (message: string) => (legacy ? wire.json(400, { error: message }) : wire.error(400, message, 400));
    return async (request, peer) => {
      const refused = await nodeGate(ctx, request, peer);
      if (refused) return refused;
      const body = await readJson(request, 64 * 1024);
      const data = body.kind === 'json' ? body.value : undefined;
      if (!isObject(data)) return bad('Invalid request data');
      const publicKey = data.server_public_key;
      if (typeof publicKey !== 'string' || publicKey.trim() === '') return bad('Invalid public key');
      const credential = data.control_credential;
      const digest = typeof credential === 'string' && credential !== '' ? await credentialDigest(credential) : 'none';
      const result = await store.unregisterNode(publicKey, digest, clock.now());
      if (result === 'forbidden') return invalidCredential(ctx);
      if (result === 'removed') log.info({ node: fingerprint(publicKey) }, 'compute node unregistered');
      return wire.json(200, { message: 'Server unregistered', removed: result === 'removed' });
    };
  }

  return { register, control, responses, progress, unregister: unregisterRoute(false), legacyUnregister: unregisterRoute(true) };
}
