import dns, { type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { neverUpstream } from '../src/cidr.ts';

export const FORBIDDEN_ADDRESS = 'ERR_UPSTREAM_ADDRESS_NOT_ALLOWED';

/**
 * The DNS lookup of every upstream connection. A host name passed the allowlist by its name;
 * what it resolves to now (DNS can change after registration) is checked here, at connect time:
 * link-local and cloud metadata addresses are dropped, and a name with nothing else left fails.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) {
      callback(err, options.all ? [] : '', 0);
      return;
    }
    const allowed = addresses.filter((entry) => !neverUpstream(entry.address));
    if (allowed.length === 0) {
      const refused = Object.assign(
        new Error(`${hostname} resolves only to addresses the relay never connects to (link-local, cloud metadata)`),
        { code: FORBIDDEN_ADDRESS },
      );
      callback(refused, options.all ? [] : '', 0);
      return;
    }
    if (options.all) callback(null, allowed);
    else callback(null, allowed[0].address, allowed[0].family);
  });
};
