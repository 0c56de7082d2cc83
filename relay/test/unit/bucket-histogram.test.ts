import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BucketHistogram } from '../../node/bucket-histogram.ts';

const BOUNDS = [0.005, 0.01, 0.1, 1, 10];
const OBSERVED: [Record<'method' | 'route', string>, number][] = [
  [{ method: 'GET', route: 'proxy' }, 0.003],
  [{ method: 'GET', route: 'proxy' }, 0.005],
  [{ method: 'GET', route: 'proxy' }, 0.5],
  [{ method: 'GET', route: 'proxy' }, 42],
  [{ method: 'POST', route: 'proxy' }, 0.01],
  [{ method: 'GET', route: 'livez' }, 0],
];

describe('BucketHistogram', () => {
  it("renders exactly what prom-client's Histogram renders for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const fast = new BucketHistogram<'method' | 'route'>('relay_duration_seconds', 'How long.', BOUNDS, ours);
    const reference = new Histogram({
      name: 'relay_duration_seconds',
      help: 'How long.',
      labelNames: ['method', 'route'],
      buckets: BOUNDS,
      registers: [theirs],
    });
    const series = new Map<string, ReturnType<typeof fast.series>>();
    for (const [labels, value] of OBSERVED) {
      const key = JSON.stringify(labels);
      if (!series.has(key)) series.set(key, fast.series(labels));
      series.get(key)?.observe(value);
      reference.observe(labels, value);
    }
    const rendered = await ours.metrics();
    expect(rendered).toBe(await theirs.metrics());
    expect(rendered).toContain('relay_duration_seconds_bucket{le="0.005",method="GET",route="proxy"} 2');
    expect(rendered).toContain('relay_duration_seconds_bucket{le="+Inf",method="GET",route="proxy"} 4');
    expect(rendered).toContain('relay_duration_seconds_sum{method="GET",route="proxy"} 42.508');
  });

  it('starts again from zero after a reset, keeping its series', async () => {
    const registry = new Registry();
    const histogram = new BucketHistogram<'route'>('h', 'h', BOUNDS, registry);
    const series = histogram.series({ route: 'proxy' });
    series.observe(0.5);
    histogram.reset();
    series.observe(2);
    const rendered = await registry.metrics();
    expect(rendered).toContain('h_count{route="proxy"} 1');
    expect(rendered).toContain('h_bucket{le="1",route="proxy"} 0');
    expect(rendered).toContain('h_bucket{le="10",route="proxy"} 1');
  });
});
