/** Values about the shared state store the chart must refuse: scale-out without it, and a URL that is not Redis's. */
import type { BadValuesCase } from './bad-values.ts';

const NO_SHARED_STATE = {
  4: ["at '/state/url': minLength: got 0, want 1"],
  3: ['Must validate "then" as "if" was valid', 'state.url: String length must be greater than or equal to 1'],
};

export const STATE_SCHEMA_CASES: BadValuesCase[] = [
  { name: 'three replicas without a shared state store', values: { replicaCount: 3 }, expect: NO_SHARED_STATE },
  { name: 'an HPA without a shared state store', values: { autoscaling: { enabled: true } }, expect: NO_SHARED_STATE },
  {
    name: 'a state URL that is not redis://, rediss:// or their +cluster forms',
    values: { state: { url: 'http://valkey:6379' } },
    expect: {
      4: ["at '/state/url': 'http://valkey:6379' does not match pattern"],
      3: ['state.url: Does not match pattern'],
    },
  },
];
