import { afterAll, afterEach } from 'vitest';
import { stopAllRelays } from '../helpers/relay-process.ts';
import { closeAllUpstreams } from '../helpers/upstream-server.ts';

/** Every relay process and stand-in upstream a fault test started is stopped after it. */
export function stopRelaysAndUpstreamsAfterEach(): void {
  afterEach(async () => {
    await stopAllRelays();
    await closeAllUpstreams();
  });
  afterAll(stopAllRelays);
}
