import type { MetricValueWithName, Registry } from 'prom-client';

/** One label set's buckets, sum and count, updated with plain arithmetic. */
export interface HistogramSeries {
  observe(value: number): void;
}

/**
 * A Prometheus histogram for the per-request path: a series is bound to its label set once and
 * then observes without prom-client's per-call work (it validates and hashes the labels on every
 * observation, even through a labelled child). Exposed through the same registry, in the same
 * format (cumulative `_bucket` series with `le`, then `_sum` and `_count`).
 */
export class BucketHistogram<Label extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #series: { labels: Record<Label, string>; buckets: number[]; sum: number; count: number }[] = [];

  readonly name: string;
  readonly help: string;

  constructor(name: string, help: string, bounds: readonly number[], registry: Registry) {
    this.name = name;
    this.help = help;
    this.#bounds = [...bounds].sort((a, b) => a - b);
    registry.registerMetric(this as never);
  }

  /** The series of one label set; call once per label set and keep it. */
  series(labels: Record<Label, string>): HistogramSeries {
    const bounds = this.#bounds;
    const entry = { labels, buckets: new Array<number>(bounds.length).fill(0), sum: 0, count: 0 };
    this.#series.push(entry);
    return {
      observe(value) {
        entry.sum += value;
        entry.count++;
        // Counted in the first bucket that holds it; made cumulative when exported.
        for (let i = 0; i < bounds.length; i++) {
          if (value <= (bounds[i] as number)) {
            (entry.buckets[i] as number)++;
            return;
          }
        }
      },
    };
  }

  /** What prom-client's registry reads from a metric when it renders /metrics. */
  get(): Promise<{ name: string; help: string; type: string; values: MetricValueWithName<string>[]; aggregator: string }> {
    const values: MetricValueWithName<string>[] = [];
    for (const { labels, buckets, sum, count } of this.#series) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += buckets[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, ...labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels, value: sum });
      values.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    for (const entry of this.#series) {
      entry.buckets.fill(0);
      entry.sum = 0;
      entry.count = 0;
    }
  }
}
