import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientTimeouts, memoryLimit, openFileLimit, resolveConnectionCap } from '../../node/connection-limits.ts';
import { loadConfig } from '../../src/config.ts';
import { defaultMaxConnections } from '../../src/connection-cap.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

function limitsFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-limits-'));
  const file = join(dir, 'limits');
  writeFileSync(file, text);
  return file;
}

describe('defaultMaxConnections', () => {
  it('leaves a reserve and allows two descriptors per connection', () => {
    expect(defaultMaxConnections(1024)).toBe(480);
    expect(defaultMaxConnections(256)).toBe(96);
    expect(defaultMaxConnections(65536)).toBe(32736);
    expect(defaultMaxConnections(128)).toBe(48);
    expect(defaultMaxConnections(8)).toBe(3);
    expect(defaultMaxConnections(1)).toBe(1);
  });
});

describe('openFileLimit', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    expect(openFileLimit(limitsFile(LIMITS))).toBe(1024);
  });

  it('is undefined when unlimited or unreadable', () => {
    expect(openFileLimit(limitsFile(LIMITS.replace('1024    ', 'unlimited')))).toBeUndefined();
    expect(openFileLimit('/nonexistent/limits')).toBeUndefined();
  });

  it('reads this process’s real limit on Linux', () => {
    if (process.platform !== 'linux') return;
    expect(openFileLimit()).toBeGreaterThan(0);
  });
});

describe('resolveConnectionCap', () => {
  it('prefers the setting, else derives from the limit, else leaves the runtime default', () => {
    expect(resolveConnectionCap(300, 1024)).toEqual({ maxConnections: 300, source: 'setting', openFileLimit: 1024 });
    expect(resolveConnectionCap(undefined, 1024)).toEqual({
      maxConnections: 480,
      source: 'open-file limit',
      openFileLimit: 1024,
    });
    expect(resolveConnectionCap(undefined, undefined)).toEqual({
      maxConnections: undefined,
      source: 'none',
      openFileLimit: undefined,
    });
  });
});

describe('the memory bound on the cap', () => {
  it('takes the lower of the open-file and memory caps: 8192 under 256 MiB with a 65536 limit', () => {
    expect(resolveConnectionCap(undefined, 65_536, 256 * 1024 * 1024)).toEqual({
      maxConnections: 8192,
      source: 'memory',
      openFileLimit: 65_536,
      memoryBytes: 256 * 1024 * 1024,
    });
    expect(resolveConnectionCap(undefined, 1024, 256 * 1024 * 1024)).toMatchObject({
      maxConnections: 480,
      source: 'open-file limit',
    });
    expect(resolveConnectionCap(undefined, undefined, 64 * 1024 * 1024)).toMatchObject({
      maxConnections: 2048,
      source: 'memory',
    });
    expect(resolveConnectionCap(50_000, 65_536, 256 * 1024 * 1024)).toMatchObject({ maxConnections: 50_000, source: 'setting' });
  });

  it('reads the memory this process may use', () => {
    expect(memoryLimit()).toBeGreaterThan(0);
  });
});

describe('clientTimeouts', () => {
  it('passes the header and request timeouts and checks them often enough', () => {
    expect(clientTimeouts(loadConfig({}))).toEqual({
      headersTimeout: 10_000,
      requestTimeout: 60_000,
      connectionsCheckingInterval: 1000,
    });
    expect(
      clientTimeouts(
        loadConfig({ TOKENPLACE_RELAY_CLIENT_HEADERS_TIMEOUT_MS: '400', TOKENPLACE_RELAY_CLIENT_REQUEST_TIMEOUT_MS: '800' }),
      ),
    ).toEqual({ headersTimeout: 400, requestTimeout: 800, connectionsCheckingInterval: 100 });
  });
});
