/** Prometheus metrics of the shared state store: latency and failures of each operation, reconnects. */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { StoreMetrics } from './redis-store/redis-store.ts';

const PREFIX = 'tokenplace_relay_state_store_';

export function createStateStoreMetrics(registry: Registry): StoreMetrics & { reconnecting(): void } {
  const latency = new Histogram({
    name: `${PREFIX}operation_seconds`,
    help: 'Latency of state store operations (one atomic transition each), by operation and outcome (ok, error).',
    labelNames: ['operation', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
    registers: [registry],
  });
  const errors = new Counter({
    name: `${PREFIX}errors_total`,
    help: 'State store operations that failed (store unreachable or timed out): each became a 503.',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const reconnects = new Counter({
    name: `${PREFIX}reconnects_total`,
    help: 'Times the connection to the state store was lost and a reconnect began.',
    registers: [registry],
  });
  reconnects.inc(0);
  return {
    operation(op, seconds, ok) {
      latency.observe({ operation: op, outcome: ok ? 'ok' : 'error' }, seconds);
      if (!ok) errors.inc({ operation: op });
    },
    reconnecting: () => reconnects.inc(),
  };
}
