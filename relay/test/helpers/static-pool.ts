import { UpstreamPool } from '../../src/pool.ts';
import type { FakeClock } from './fake-clock.ts';

/** The one-member pool of the admission tests: the static upstream gpu-server:8000 on a fake clock. */
export function staticPool(maxConcurrency: number, clock: FakeClock): UpstreamPool {
  return new UpstreamPool({
    staticUrl: new URL('http://gpu-server:8000'),
    maxConcurrency,
    ejectAfterFailures: 3,
    ejectBackoffMs: 1000,
    clock,
  });
}
