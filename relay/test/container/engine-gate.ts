import { it } from 'vitest';
import { Docker, findDockerEngine } from './docker.ts';

export function runningInCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = (env.CI ?? '').trim().toLowerCase();
  return value !== '' && value !== 'false' && value !== '0';
}

/**
 * Call at the top level of a container test file. With an engine (and whatever else `missing` finds
 * absent: one phrase per missing thing) it returns a Docker client. Otherwise it returns undefined and
 * registers a test that fails under CI=true (CI must prove the image) and is skipped elsewhere, with
 * one line on stderr saying why.
 */
export async function dockerOrSkip(
  suite: string,
  missing: () => Promise<string[]> = async () => [],
): Promise<Docker | undefined> {
  const lookup = await findDockerEngine();
  const reasons = lookup.ok ? await missing() : [lookup.reason];
  if (lookup.ok && reasons.length === 0) return new Docker(lookup.engine);
  const trimmed = reasons.join('; ').replace(/[.\s]+$/, '');
  const reason = /[?!]$/.test(trimmed) ? trimmed : `${trimmed}.`;
  if (runningInCi()) {
    it(`${suite}: has what it needs (CI=true makes anything missing a failure)`, () => {
      throw new Error(`${reason} .ci/run installs and starts all of it.`);
    });
  } else {
    process.stderr.write(`\n[${suite}] SKIPPED: ${reason} Run .ci/run (as root, Debian) to set it up and run these tests.\n`);
    it.skip(`${suite}: skipped, ${trimmed}`, () => undefined);
  }
  return undefined;
}
