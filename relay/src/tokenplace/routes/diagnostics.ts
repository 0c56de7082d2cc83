/** GET /relay/diagnostics (relay.py's shape) and the node counts /healthz reports. */
import { isStale, loadScore } from '../scheduler.ts';
import type { NodeView, TokenPlaceStore } from '../store.ts';
import type { Wire } from '../wire.ts';

function describe(node: NodeView, now: number) {
  return {
    server_public_key: node.publicKey,
    age_seconds: Math.round(Math.max(now - node.lastSeenAt, 0)) / 1000,
    next_ping_in_x_seconds: node.leaseSeconds,
    queue_depth: node.queueDepth,
    in_flight_count: node.inFlight,
    max_concurrency: node.capabilities.max_concurrency,
    load_score: loadScore(node),
    capabilities: node.capabilities,
  };
}

export interface NodeCounts {
  /** Registered compute nodes. */
  knownServers: number;
  /** Those that are fresh: polling now or seen within their lease. */
  activeServers: number;
}

export async function nodeCounts(store: TokenPlaceStore, now: number): Promise<NodeCounts> {
  const nodes = await store.listNodes(now);
  return { knownServers: nodes.length, activeServers: nodes.filter((node) => !isStale(node, now)).length };
}

export function createDiagnostics(store: TokenPlaceStore, wire: Wire, now: () => number, upstream: string | undefined) {
  return async (): Promise<Response> => {
    const at = now();
    await store.sweep(at);
    const nodes = (await store.listNodes(at)).map((node) => describe(node, at));
    nodes.sort((a, b) => (a.server_public_key < b.server_public_key ? -1 : a.server_public_key > b.server_public_key ? 1 : 0));
    const upstreams = upstream === undefined ? [] : [upstream];
    return wire.json(200, {
      relay_only: upstream === undefined,
      upstream_health_required: false,
      active_upstream_servers: upstreams,
      required_upstream_servers: [],
      registered_compute_nodes: nodes,
      total_registered_compute_nodes: nodes.length,
      api_v1_registered_compute_nodes: nodes,
      total_api_v1_registered_compute_nodes: nodes.length,
      configured_upstream_servers: upstreams,
    });
  };
}
