import { capacitySteps } from './script-capacity.ts';
import { clientSteps } from './script-client.ts';
import { lifecycleSteps } from './script-lifecycle.ts';
import { registrationSteps } from './script-registration.ts';
import { teardownSteps } from './script-teardown.ts';
import type { Step } from './step.ts';

/**
 * The whole differential script, in order: each part leaves the relay in the state the next one starts from
 * (nodes registered, then requests queued, then work in flight, then cancelled, then a node filled past its limits, then nodes gone).
 */
export const SCRIPT: Step[] = [...registrationSteps, ...clientSteps, ...lifecycleSteps, ...capacitySteps, ...teardownSteps];
