/**
 * Loaded into a relay process with `--import` (see fake-dns.ts): answers DNS lookups of the names
 * in TEST_FAKE_DNS (`name=address,address;name2=address`) without any resolver, so a test can make
 * a host name resolve to a cloud metadata address. Other names resolve as usual.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { isIP } from 'node:net';

type Callback = (err: Error | null, address: unknown, family?: number) => void;

const dns = createRequire(import.meta.url)('node:dns') as {
  lookup: (hostname: string, options: unknown, callback?: Callback) => void;
};
const table = new Map<string, string[]>();
for (const entry of (process.env.TEST_FAKE_DNS ?? '').split(';').filter(Boolean)) {
  const [name, addresses] = entry.split('=');
  table.set(name.toLowerCase(), addresses.split(','));
}
const realLookup = dns.lookup;
dns.lookup = (hostname, options, callback) => {
  const done = (typeof options === 'function' ? options : callback) as Callback;
  const addresses = table.get(hostname.toLowerCase());
  if (addresses === undefined) {
    realLookup(hostname, options, callback);
    return;
  }
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  const entries = addresses.map((address) => ({ address, family: isIP(address) }));
  queueMicrotask(() => (all ? done(null, entries) : done(null, entries[0].address, entries[0].family)));
};
syncBuiltinESMExports();
