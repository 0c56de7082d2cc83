import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RelayMetrics } from '../src/observability.ts';

const PREFIX = 'tokenplace_relay_';

/** Buckets from 5 ms to 5 minutes: proxied LLM generations run for tens of seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export function createPromMetrics(registry: Registry = new Registry()): RelayMetrics & { registry: Registry } {
  // Process metrics include process_open_fds and process_max_fds.
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: `${PREFIX}requests_total`,
    help: 'Requests handled, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Time from request arrival until the response body finished streaming.',
    labelNames: ['method', 'route'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: `${PREFIX}upstream_errors_total`,
    help: 'Failures talking to the GPU server, by kind (connect, timeout, reset, protocol).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: `${PREFIX}requests_in_flight`,
    help: 'Requests being handled, including streaming responses.',
    labelNames: ['route'] as const,
    registers: [registry],
  });
  for (const kind of ['connect', 'timeout', 'reset', 'protocol']) upstreamErrors.inc({ kind }, 0);

  // Methods outside the standard set are folded so a client cannot create label values at will.
  const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
  const methodLabel = (method: string) => (KNOWN_METHODS.has(method) ? method : 'OTHER');

  // prom-client hashes a label object on every call; the label sets are few, so their children are kept.
  const inFlightOf = new Map<string, Gauge.Internal<'route'>>();
  const finishedOf = new Map<string, { requests: Counter.Internal; duration: Histogram.Internal<'method' | 'route'> }>();
  const inFlightFor = (route: string) => {
    let child = inFlightOf.get(route);
    if (child === undefined) {
      child = inFlight.labels({ route });
      inFlightOf.set(route, child);
    }
    return child;
  };

  return {
    registry,
    requestStarted(route) {
      inFlightFor(route).inc();
    },
    requestFinished(route, method, status, durationSeconds) {
      inFlightFor(route).dec();
      const labelMethod = methodLabel(method);
      const key = `${labelMethod} ${route} ${status}`;
      let children = finishedOf.get(key);
      if (children === undefined) {
        children = {
          requests: requests.labels({ method: labelMethod, route, status: String(status) }),
          duration: duration.labels({ method: labelMethod, route }),
        };
        finishedOf.set(key, children);
      }
      children.requests.inc();
      children.duration.observe(durationSeconds);
    },
    upstreamError(kind) {
      upstreamErrors.inc({ kind });
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
