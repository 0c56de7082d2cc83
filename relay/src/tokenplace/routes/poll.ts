/**
 * The compute node's long poll: held until work for the node arrives, the node has a free slot,
 * or the poll wait ends; one item per answer. The work item carries next_ping_in_x_seconds: 0 so
 * token.place's server.py polls again at once after a job instead of sleeping through its lease.
 */
import { readJson } from '../body.ts';
import { type Capabilities, normaliseCapabilities } from '../capabilities.ts';
import { isObject } from '../envelope.ts';
import type { Work } from '../store.ts';
import { deadlineFields, fingerprint } from '../wire.ts';
import { invalidRequest, nodeGate, notFoundNode, type Route, type RouteContext, serverKeyOf } from './context.ts';

/** While draining, an idle node is told to come back in a second, by which time it reaches another replica. */
const DRAIN_RETRY_SECONDS = 1;

export function createPoll(ctx: RouteContext): Route {
  const { wire, store, clock, lifecycle, log } = ctx;
  const waitMs = ctx.config.pollWaitSeconds * 1000;
  const inFlightTtlMs = ctx.config.inFlightTtlSeconds * 1000;
  const leaseSeconds = ctx.config.nodeLeaseSeconds;

  function workItem(work: Work, now: number): Record<string, unknown> {
    // The client's cancel_token stays with the relay: a node has no business cancelling requests.
    return { ...work.envelope, e2ee_v1: true, ...deadlineFields(work.deadline, now), next_ping_in_x_seconds: 0 };
  }

  function noWork(): Response {
    const draining = lifecycle.shuttingDown;
    return wire.json(200, {
      message: 'No requests available',
      next_ping_in_x_seconds: draining ? DRAIN_RETRY_SECONDS : waitMs > 0 ? 0 : Math.max(leaseSeconds, 1),
      poll_wait_seconds: ctx.config.pollWaitSeconds,
    });
  }

  return async (request, peer) => {
    const refused = await nodeGate(ctx, request, peer);
    if (refused) return refused;
    await store.sweep(clock.now());
    const body = await readJson(request, 64 * 1024);
    const data = body.kind === 'json' ? body.value : undefined;
    if (!isObject(data)) return invalidRequest(ctx);
    const nodeKey = serverKeyOf(ctx, data);
    if (typeof nodeKey !== 'string') return nodeKey;
    let capabilities: Capabilities | undefined;
    if (data.capabilities !== undefined && data.capabilities !== null) {
      const checked = normaliseCapabilities(data.capabilities);
      if (!checked.ok) return wire.error(400, checked.message, 'invalid_capabilities');
      capabilities = checked.capabilities;
    }

    const started = clock.now();
    const holdMs = lifecycle.shuttingDown ? 0 : waitMs;
    const known = await store.touchNode(nodeKey, { capabilities, leaseSeconds, pollingUntil: started + holdMs }, started);
    if (!known) return notFoundNode(ctx);

    const deadline = started + holdMs;
    let work: Work | undefined;
    try {
      for (;;) {
        const now = clock.now();
        const claimed = await store.claim(nodeKey, inFlightTtlMs, now);
        if (claimed.kind === 'unknown_node') return notFoundNode(ctx);
        if (claimed.kind === 'work') {
          work = claimed.work;
          break;
        }
        const remaining = deadline - now;
        if (remaining <= 0 || lifecycle.shuttingDown || request.signal.aborted) break;
        await store.waitForWork(nodeKey, remaining, request.signal);
      }
    } finally {
      const touched = store.touchNode(nodeKey, { leaseSeconds, pollingUntil: undefined }, clock.now());
      // With work in hand the node need not wait for it: the poll is over either way (one store round trip less).
      if (work === undefined) await touched;
      else touched.catch(() => undefined);
    }

    if (work === undefined) return noWork();
    if (request.signal.aborted) {
      // The node hung up while we claimed: nobody will work on it, so it goes back to the head of the queue.
      await store.unclaim(work, clock.now());
      return noWork();
    }
    const now = clock.now();
    log.info({ node: fingerprint(nodeKey), queueWaitMs: now - work.queuedAt }, 'encrypted request dispatched');
    return wire.json(200, workItem(work, now));
  };
}
