/**
 * relay.py's node selection: among nodes that serve the model at the requested context tier or
 * larger, are fresh and have spare capacity, take the smallest capable tier, then the least load
 * relative to max_concurrency, and break ties by taking turns in registration order.
 */
import type { NodeView, Selection, SelectionCriteria } from './store.ts';
import { CONTEXT_TIER_TOKENS, MODEL_ALIASES } from './wire.ts';

export function resolveModel(model: string): string {
  const lower = model.trim().toLowerCase();
  return MODEL_ALIASES[lower] ?? lower;
}

/** A node is stale when it neither holds a poll nor was seen within its lease. */
export function isStale(node: NodeView, now: number): boolean {
  if (node.pollingUntil !== undefined && node.pollingUntil > now) return false;
  return now - node.lastSeenAt > Math.max(node.leaseSeconds, 1) * 1000;
}

export function loadScore(node: NodeView): number {
  return Math.round(((node.queueDepth + node.inFlight) / node.capabilities.max_concurrency) * 1e6) / 1e6;
}

function matches(node: NodeView, model: string, tier: string, now: number): boolean {
  if (isStale(node, now)) return false;
  const caps = node.capabilities;
  const tierTokens = CONTEXT_TIER_TOKENS[caps.active_context_tier];
  if (tierTokens === undefined || tierTokens < CONTEXT_TIER_TOKENS[tier]) return false;
  if (caps.supported_model_ids.length === 0 || !caps.supported_model_ids.includes(model)) return false;
  return caps.maximum_total_context_tokens >= tierTokens;
}

/**
 * Picks a node; `cursor` is the registration order of the node chosen last time (the round-robin
 * position), and the caller stores the chosen node's order as the next cursor.
 */
export function selectBestFit(nodes: readonly NodeView[], criteria: SelectionCriteria, cursor: number, now: number): Selection {
  if (nodes.length === 0) return { ok: false, reason: 'no_nodes', eligible: [], capacityLimited: [] };
  const model = resolveModel(criteria.model);
  const eligible: NodeView[] = [];
  const capacityLimited: NodeView[] = [];
  for (const node of nodes) {
    if (!matches(node, model, criteria.contextTier, now)) continue;
    const full = node.inFlight >= node.capabilities.max_concurrency || node.queueDepth >= criteria.maxQueueDepth;
    (full ? capacityLimited : eligible).push(node);
  }
  if (eligible.length === 0) {
    return { ok: false, reason: capacityLimited.length > 0 ? 'no_capacity' : 'no_match', eligible, capacityLimited };
  }
  const tierOf = (node: NodeView) => CONTEXT_TIER_TOKENS[node.capabilities.active_context_tier];
  const smallestTier = Math.min(...eligible.map(tierOf));
  const inTier = eligible.filter((node) => tierOf(node) === smallestTier);
  const lowestLoad = Math.min(...inTier.map(loadScore));
  const tied = inTier.filter((node) => loadScore(node) === lowestLoad).sort((a, b) => a.order - b.order);
  const next = tied.find((node) => node.order > cursor) ?? tied[0];
  return { ok: true, node: next, eligible, spillover: smallestTier > CONTEXT_TIER_TOKENS[criteria.contextTier] };
}

/** `{"8k-fast": 2}`: how many of the nodes have each active tier. */
export function tierCounts(nodes: readonly NodeView[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const node of nodes) {
    const tier = node.capabilities.active_context_tier;
    counts[tier] = (counts[tier] ?? 0) + 1;
  }
  return counts;
}
