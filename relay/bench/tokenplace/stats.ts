/** Nearest-rank percentile of samples (in any order); NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Spread {
  p50: number;
  p99: number;
}

export const spread = (samples: readonly number[]): Spread => ({ p50: percentile(samples, 50), p99: percentile(samples, 99) });
