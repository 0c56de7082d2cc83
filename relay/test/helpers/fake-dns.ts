/** Makes a relay process resolve chosen host names to chosen addresses (see fake-dns-preload.ts). */
import { fileURLToPath } from 'node:url';

const PRELOAD = fileURLToPath(new URL('./fake-dns-preload.ts', import.meta.url));

/** The environment that makes a relay process resolve the given names to the given addresses. */
export function withFakeDns(names: Record<string, string[]>): Record<string, string> {
  const spec = Object.entries(names)
    .map(([name, addresses]) => `${name}=${addresses.join(',')}`)
    .join(';');
  return { TEST_FAKE_DNS: spec, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`.trim() };
}
