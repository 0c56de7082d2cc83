import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AdmissionView, RelayMetrics } from '../src/observability.ts';
import { BucketHistogram, type HistogramSeries } from './bucket-histogram.ts';
import { createTokenPlaceMetrics } from './prom-tokenplace.ts';

const PREFIX = 'tokenplace_relay_';

/** Queue waits: from 1 ms (a slot freed at once) to the longest allowed wait. */
const QUEUE_WAIT_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Buckets from 5 ms to 5 minutes: proxied LLM generations run for tens of seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The IANA-registered status codes, plus nginx's 499 (client closed the request), which the relay logs. */
const REGISTERED_STATUSES = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402,
  403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431,
  451, 499, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

export function createPromMetrics(registry: Registry = new Registry()): RelayMetrics & { registry: Registry } {
  // Process metrics include process_open_fds and process_max_fds.
  collectDefaultMetrics({ register: registry });

  // The per-request counts are kept in plain numbers and handed to prom-client at scrape time:
  // prom-client hashes the label set on every increment, even through a labelled child.
  const finished: { labels: { method: string; route: string; status: string }; pending: number }[] = [];
  new Counter({
    name: `${PREFIX}requests_total`,
    help: 'Requests handled, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      for (const entry of finished) {
        if (entry.pending === 0) continue;
        this.inc(entry.labels, entry.pending);
        entry.pending = 0;
      }
    },
  });
  const duration = new BucketHistogram<'method' | 'route'>(
    `${PREFIX}request_duration_seconds`,
    'Time from request arrival until the response body finished streaming.',
    DURATION_BUCKETS,
    registry,
  );
  const upstreamErrors = new Counter({
    name: `${PREFIX}upstream_errors_total`,
    help: 'Failures talking to the GPU server, by kind (connect, timeout, reset, protocol; overloaded: the relay had no file descriptor left).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const inFlightOf = new Map<string, { count: number }>();
  new Gauge({
    name: `${PREFIX}requests_in_flight`,
    help: 'Requests being handled, including streaming responses.',
    labelNames: ['route'] as const,
    registers: [registry],
    collect() {
      for (const [route, { count }] of inFlightOf) this.set({ route }, count);
    },
  });
  for (const kind of ['connect', 'timeout', 'reset', 'protocol', 'overloaded']) upstreamErrors.inc({ kind }, 0);

  // Admission control. Depth and per-member in-flight counts are read from the pool at scrape time.
  let admission: AdmissionView | undefined;
  new Gauge({
    name: `${PREFIX}queue_depth`,
    help: 'Requests waiting for a free upstream slot.',
    registers: [registry],
    collect() {
      this.set(admission?.depth() ?? 0);
    },
  });
  new Gauge({
    name: `${PREFIX}upstream_in_flight`,
    help: 'Requests in flight per upstream pool member: "static", or the id of a registered node (GET /relay/servers maps ids to URLs).',
    labelNames: ['member'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const member of admission?.members() ?? []) this.set({ member: member.id }, member.inFlight);
    },
  });
  new Gauge({
    name: `${PREFIX}upstream_orphaned`,
    help: 'Of upstream_in_flight: requests whose client has gone while the GPU host still works on them (their slot stays taken until it is done).',
    labelNames: ['member'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const member of admission?.members() ?? []) this.set({ member: member.id }, member.orphaned);
    },
  });
  new Gauge({
    name: `${PREFIX}upstream_members`,
    help: 'Pool members by passive-health state.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const now = admission?.now() ?? 0;
      let ejected = 0;
      const members = admission?.members() ?? [];
      for (const member of members) if (member.ejectedUntil > now) ejected++;
      this.set({ state: 'healthy' }, members.length - ejected);
      this.set({ state: 'ejected' }, ejected);
    },
  });
  const queueWait = new Histogram({
    name: `${PREFIX}queue_wait_seconds`,
    help: 'Time requests spent in the queue, by outcome (admitted, timeout, abandoned, unavailable: the shared state store could not be reached).',
    labelNames: ['outcome'] as const,
    buckets: QUEUE_WAIT_BUCKETS,
    registers: [registry],
  });
  // Bound once: observing through a child skips hashing the labels on every queued request.
  const waitByOutcome = {
    admitted: queueWait.labels({ outcome: 'admitted' }),
    timeout: queueWait.labels({ outcome: 'timeout' }),
    abandoned: queueWait.labels({ outcome: 'abandoned' }),
    unavailable: queueWait.labels({ outcome: 'unavailable' }),
  };
  const rejections = new Counter({
    name: `${PREFIX}admission_rejections_total`,
    help: 'Requests answered 503 by admission control before reaching the GPU host, by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of ['queue_full', 'queue_timeout', 'state_unavailable']) rejections.inc({ reason }, 0);
  const ejections = new Counter({
    name: `${PREFIX}upstream_ejections_total`,
    help: 'Pool members ejected after consecutive failures (refused, TLS, reset before answering), by kind of member.',
    labelNames: ['member'] as const,
    registers: [registry],
  });
  for (const member of ['static', 'registered']) ejections.inc({ member }, 0);
  const refusedConnections = new Counter({
    name: `${PREFIX}connections_refused_total`,
    help: 'Client connections closed at once because TOKENPLACE_RELAY_MAX_CONNECTIONS was reached.',
    registers: [registry],
  });

  // Status codes outside the registered set are folded into their class ("2xx"), so an upstream cannot create label values at will.
  const statusLabel = (status: number) => (REGISTERED_STATUSES.has(status) ? String(status) : `${Math.floor(status / 100)}xx`);
  // Methods outside the standard set are folded so a client cannot create label values at will.
  const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
  const methodLabel = (method: string) => (KNOWN_METHODS.has(method) ? method : 'OTHER');

  // The label sets are few: each is found by route, method label and status, without building a key.
  type Finished = (typeof finished)[number] & { duration: HistogramSeries };
  const finishedOf = new Map<string, Map<string, Map<number, Finished>>>();
  const inFlightFor = (route: string) => {
    let count = inFlightOf.get(route);
    if (count === undefined) {
      count = { count: 0 };
      inFlightOf.set(route, count);
    }
    return count;
  };
  // One duration series per route and method, shared by the status codes.
  const durations = new Map<string, HistogramSeries>();
  const durationFor = (route: string, method: string) => {
    const key = `${route} ${method}`;
    let series = durations.get(key);
    if (series === undefined) {
      series = duration.series({ method, route });
      durations.set(key, series);
    }
    return series;
  };
  const finishedFor = (route: string, method: string, status: number): Finished => {
    let byMethod = finishedOf.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      finishedOf.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let entry = byStatus.get(status);
    if (entry === undefined) {
      entry = {
        labels: { method, route, status: statusLabel(status) },
        pending: 0,
        duration: durationFor(route, method),
      };
      finished.push(entry);
      byStatus.set(status, entry);
    }
    return entry;
  };

  return {
    registry,
    ...createTokenPlaceMetrics(registry),
    requestStarted(route) {
      inFlightFor(route).count++;
    },
    requestFinished(route, method, status, durationSeconds) {
      inFlightFor(route).count--;
      const entry = finishedFor(route, methodLabel(method), status);
      entry.pending++;
      entry.duration.observe(durationSeconds);
    },
    upstreamError(kind) {
      upstreamErrors.inc({ kind });
    },
    observeAdmission(view) {
      admission = view;
    },
    queueWaited(seconds, outcome) {
      waitByOutcome[outcome].observe(seconds);
    },
    admissionRejected(reason) {
      rejections.inc({ reason });
    },
    upstreamEjected(member) {
      ejections.inc({ member });
    },
    connectionRefused() {
      refusedConnections.inc();
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
