/**
 * Parity of the two stores through the routes: the protocol's route unit tests (relay/test/tokenplace/unit,
 * written against the in-memory store) run again, in a child vitest, with the harness on the Valkey/Redis store.
 * Left out: the one test that reads the in-memory store's own sizes().
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { startRedisServer } from '../../helpers/redis-server.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../..', import.meta.url));
const MEMORY_ONLY = 'frees everything a finished request held';

it('the route unit tests pass with the harness on the Valkey/Redis store', { timeout: 300_000 }, async () => {
  const redis = await startRedisServer();
  try {
    const child = spawn(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', 'relay/test/tokenplace/unit', '-t', `^(?!.*${MEMORY_ONLY})`],
      { cwd: REPO_ROOT, env: { ...process.env, TOKENPLACE_TEST_STATE_URL: redis.url }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code, output.slice(-6000)).toBe(0);
    expect(output).toMatch(/Tests\s.*\d+ passed/);
  } finally {
    await redis.stop();
  }
});
