import { it } from 'vitest';
import { Docker, findDockerEngine } from './docker.ts';

export function runningInCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.CI ?? '').trim().toLowerCase();
  return value !== '' && value !== 'false' && value !== '0';
}

/**
 * Call at the top level of a container test file. With an engine it returns a Docker client. Without
 * one it returns undefined and registers a test that fails under CI=true (CI must prove the image) and
 * is skipped elsewhere, with one line on stderr saying why.
 */
export async function dockerOrSkip(suite: string): Promise<Docker | undefined> {
  const lookup = await findDockerEngine();
  if (lookup.ok) return new Docker(lookup.engine);
  if (runningInCi()) {
    it(`${suite}: needs a Docker engine (CI=true makes a missing engine a failure)`, () => {
      throw new Error(`${lookup.reason}. .ci/run installs and starts Debian's docker.io.`);
    });
  } else {
    process.stderr.write(`\n[${suite}] SKIPPED: ${lookup.reason}. Run .ci/run, or start dockerd, to run these tests.\n`);
    it.skip(`${suite}: skipped, ${lookup.reason}`, () => undefined);
  }
  return undefined;
}
