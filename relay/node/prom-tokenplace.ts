/**
 * Prometheus metrics of token.place's relay protocol: compute nodes, their queues and in-flight
 * work (read from the store at scrape time), and how relayed requests end. Labels are bounded:
 * never a key, a request id or anything a client chooses.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TokenPlaceMetrics, TokenPlaceView } from '../src/observability.ts';
import { TERMINAL_REASONS } from '../src/tokenplace/wire.ts';

const PREFIX = 'tokenplace_relay_';

export function createTokenPlaceMetrics(registry: Registry): TokenPlaceMetrics {
  let view: TokenPlaceView | undefined;
  const nodesByState = async () => {
    const nodes = (await view?.nodes()) ?? [];
    return nodes;
  };
  new Gauge({
    name: `${PREFIX}compute_nodes`,
    help: 'token.place compute nodes registered, by state (active: polling or seen within its lease).',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const nodes = await nodesByState();
      const active = nodes.filter((node) => node.active).length;
      this.set({ state: 'active' }, active);
      this.set({ state: 'stale' }, nodes.length - active);
    },
  });
  new Gauge({
    name: `${PREFIX}compute_node_queued_requests`,
    help: 'Encrypted requests waiting in compute-node queues.',
    registers: [registry],
    async collect() {
      this.set((await nodesByState()).reduce((sum, node) => sum + node.queueDepth, 0));
    },
  });
  new Gauge({
    name: `${PREFIX}compute_node_in_flight_requests`,
    help: 'Encrypted requests dispatched to compute nodes and not yet answered.',
    registers: [registry],
    async collect() {
      this.set((await nodesByState()).reduce((sum, node) => sum + node.inFlight, 0));
    },
  });
  const outcomes = new Counter({
    name: `${PREFIX}relayed_requests_total`,
    help: 'Relayed token.place requests that ended, by outcome (completed, cancelled, expired) and reason.',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  });
  outcomes.inc({ outcome: 'completed', reason: 'completed' }, 0);
  const evictions = new Counter({
    name: `${PREFIX}compute_node_removals_total`,
    help: 'Compute nodes removed, by reason (unregistered, stale_lease).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of ['unregistered', 'stale_lease']) evictions.inc({ reason }, 0);

  return {
    observeTokenPlace(next) {
      view = next;
    },
    relayedRequestEnded(outcome, reason) {
      outcomes.inc({ outcome, reason: outcome === 'completed' || TERMINAL_REASONS.has(reason) ? reason : 'other' });
    },
    computeNodeRemoved(reason) {
      evictions.inc({ reason });
    },
  };
}
