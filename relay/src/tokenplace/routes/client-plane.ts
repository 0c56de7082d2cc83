/**
 * The client data plane: pick a node, drop ciphertext into its queue, cancel with the cancel_token
 * proof, and poll for the encrypted answer. These routes are public (CORS `*`, as relay.py).
 */
import { readJson } from '../body.ts';
import { extractEnvelope, isObject, MAX_IDENTIFIER_LENGTH, nonEmptyString } from '../envelope.ts';
import { loadScore, resolveModel, tierCounts } from '../scheduler.ts';
import {
  CONTEXT_TIER_TOKENS,
  DEFAULT_CONTEXT_TIER,
  DEFAULT_MODEL,
  deadlineFields,
  fingerprint,
  SELECTION_POLICY,
  terminalReasonOf,
  terminalStatusOf,
} from '../wire.ts';
import {
  addressOf,
  invalidRequest,
  notFoundNode,
  type Route,
  type RouteContext,
  rateLimited,
  refuseNonEnvelope,
  tooLarge,
} from './context.ts';

export function createClientPlane(ctx: RouteContext): Record<'next' | 'requests' | 'cancel' | 'retrieve', Route> {
  const { wire, store, clock, lifecycle, log } = ctx;
  const noNodes = () =>
    wire.error(503, 'No registered compute nodes are available on this relay.', 'no_registered_compute_nodes');

  const next: Route = async (request) => {
    const now = clock.now();
    await store.sweep(now);
    const url = new URL(request.url);
    const rawModel = url.searchParams.get('model');
    const model = rawModel !== null && rawModel.trim() !== '' ? rawModel : DEFAULT_MODEL;
    const rawTier = url.searchParams.get('context_tier')?.trim();
    const contextTier = rawTier ? rawTier : DEFAULT_CONTEXT_TIER;
    if ((await store.listNodes(now)).length === 0) return noNodes();
    if (!(contextTier in CONTEXT_TIER_TOKENS)) return wire.error(400, 'Unsupported context_tier', 'invalid_context_tier');

    const selection = await store.selectNode({ model, contextTier, maxQueueDepth: ctx.config.maxQueueDepth }, now);
    const common = { selection_policy: SELECTION_POLICY, requested_context_tier: contextTier, requested_model: model };
    if (!selection.ok) {
      if (selection.reason === 'no_nodes') return noNodes();
      const eligible = { eligible_node_count: 0, eligible_tier_counts: tierCounts(selection.capacityLimited) };
      if (selection.reason === 'no_capacity') {
        return wire.error(
          503,
          'Registered compute nodes match the requested model/context tier, but all matching nodes are at capacity. Retry with backoff.',
          'no_available_capacity',
          {
            ...common,
            ...eligible,
            capacity_limited_node_count: selection.capacityLimited.length,
            capacity_limited_tier_counts: tierCounts(selection.capacityLimited),
          },
          { 'retry-after': '1' },
        );
      }
      return wire.error(
        503,
        'Registered compute nodes are available, but none match the requested model/context tier.',
        'no_matching_compute_node',
        {
          ...common,
          eligible_node_count: 0,
          eligible_tier_counts: {},
        },
      );
    }
    const { node } = selection;
    const caps = node.capabilities;
    return wire.json(200, {
      server_public_key: node.publicKey,
      requested_context_tier: contextTier,
      requested_model: model,
      resolved_model: resolveModel(model),
      selected_context_tier: caps.active_context_tier,
      selected_context_window_tokens: caps.maximum_total_context_tokens,
      selected_model_support: caps.supported_model_ids,
      selection_policy: SELECTION_POLICY,
      eligible_node_count: selection.eligible.length,
      eligible_tier_counts: tierCounts(selection.eligible),
      selected_queue_depth: node.queueDepth,
      selected_in_flight_count: node.inFlight,
      selected_load_score: loadScore(node),
      spillover: selection.spillover,
      ...(selection.spillover ? { spillover_reason: 'no_smaller_eligible_node_available' } : {}),
    });
  };

  const requests: Route = async (request, peer) => {
    const quota = await ctx.limits.public(addressOf(ctx, request, peer));
    if (quota !== undefined) return rateLimited(ctx, quota);
    if (lifecycle.shuttingDown) {
      return wire.error(
        503,
        'This relay is shutting down; retry and another replica will take the request.',
        'relay_draining',
        {},
        { 'retry-after': '1' },
      );
    }
    const now = clock.now();
    await store.sweep(now);
    const body = await readJson(request, ctx.config.maxEnvelopeBytes);
    if (body.kind === 'too_large') return tooLarge(ctx, 'Request envelope too large');
    if (body.kind !== 'json') return invalidRequest(ctx);
    const data = body.value;
    const refusal = refuseNonEnvelope(ctx, data, true);
    if (refusal) return refusal;
    if (!isObject(data) || !('server_public_key' in data)) return invalidRequest(ctx);
    const checked = extractEnvelope(data);
    if (!checked.ok) return invalidRequest(ctx);
    if (!data.client_public_key) return wire.error(400, 'Missing client public key', 400);
    const { server_public_key: nodeKey, client_public_key: clientKey, request_id: requestId } = data;
    if (!nonEmptyString(nodeKey) || !nonEmptyString(clientKey) || !nonEmptyString(requestId, MAX_IDENTIFIER_LENGTH)) {
      return invalidRequest(ctx);
    }
    const deadline = now + ctx.config.requestDeadlineSeconds * 1000;
    const result = await store.enqueue(
      { clientKey, requestId, nodeKey, envelope: checked.envelope, cancelToken: checked.cancelToken, deadline, queuedAt: now },
      ctx.config.maxQueueDepth,
      now,
    );
    if (!result.ok) {
      if (result.reason === 'unknown_node') return notFoundNode(ctx);
      if (result.reason === 'finished') {
        return wire.error(409, 'This request_id was already answered, cancelled or expired; use a new one.', 409);
      }
      if (result.reason === 'storage_full') {
        const message = 'The relay holds as much ciphertext as its memory budget allows. Retry with backoff.';
        return wire.error(503, message, 'relay_storage_full', {}, { 'retry-after': '5' });
      }
      return wire.error(
        503,
        "The selected compute node's queue is full. Retry with backoff.",
        'no_available_capacity',
        {},
        { 'retry-after': '1' },
      );
    }
    if (!result.duplicate) log.info({ node: fingerprint(nodeKey), client: fingerprint(clientKey) }, 'encrypted request queued');
    return wire.json(200, { message: 'Request received', ...deadlineFields(result.deadline, now) });
  };

  const cancel: Route = async (request, peer) => {
    const quota = await ctx.limits.public(addressOf(ctx, request, peer));
    if (quota !== undefined) return rateLimited(ctx, quota);
    const body = await readJson(request, 64 * 1024);
    const data = body.kind === 'json' ? body.value : undefined;
    if (!isObject(data)) return invalidRequest(ctx);
    const { client_public_key: clientKey, request_id: requestId } = data;
    if (!nonEmptyString(clientKey) || !nonEmptyString(requestId)) return invalidRequest(ctx);
    const status = terminalStatusOf(data.status);
    const reason = terminalReasonOf(data.reason, status);
    const result = await store.cancel(clientKey, requestId, data.cancel_token, status, reason, clock.now());
    if (result.kind === 'forbidden') return wire.error(403, 'Missing or invalid cancel proof', 403);
    log.info({ client: fingerprint(clientKey), status, reason }, 'request cancelled by its client');
    return wire.json(200, { status, request_id: requestId, removed_from_queue: result.removedFromQueue });
  };

  const retrieve: Route = async (request) => {
    const body = await readJson(request, 64 * 1024);
    const data = body.kind === 'json' ? body.value : undefined;
    if (!isObject(data) || !nonEmptyString(data.client_public_key)) return invalidRequest(ctx);
    const clientKey = data.client_public_key;
    const requestId = nonEmptyString(data.request_id) ? data.request_id : undefined;
    const now = clock.now();
    const result = await store.retrieve(clientKey, requestId, now);
    switch (result.kind) {
      case 'response':
        return wire.json(200, result.envelope);
      case 'terminal':
        return wire.error(410, `Request ${result.status}`, result.status, { status: result.status, reason: result.reason });
      case 'pending':
        return wire.json(202, {
          status: 'pending',
          ...deadlineFields(result.deadline, now),
          ...(result.progress ? { encrypted_progress: result.progress } : {}),
        });
      case 'unknown':
        return requestId === undefined
          ? wire.error(404, 'No response available for the given public key', 404)
          : wire.error(404, `Unknown request_id: ${requestId}`, 404);
    }
  };

  return { next, requests, cancel, retrieve };
}
