/** Runs `just` (npm package rust-just) on the repository's justfile. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-facts.ts';

/** The `just` command of the npm package (its `bin`), run with this Node. The package exports no CommonJS entry to resolve. */
const JUST_CLI = join(REPO_ROOT, 'node_modules', 'rust-just', 'lib', 'index.mjs');

export interface JustResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runJust(args: readonly string[]): Promise<JustResult> {
  const child = spawn(process.execPath, [JUST_CLI, '--justfile', join(REPO_ROOT, 'justfile'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? REPO_ROOT, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code: code ?? -1, stdout, stderr };
}

/**
 * The commands `just --dry-run` prints for a recipe (on stderr, one per line). `args` are what a user
 * types after `just`: variable overrides, the recipe, its arguments.
 */
export async function dryRun(args: readonly string[]): Promise<{ code: number; commands: string[]; stderr: string }> {
  const result = await runJust(['--dry-run', ...args]);
  return {
    code: result.code,
    commands: result.stderr.split('\n').filter((line) => line.trim() !== ''),
    stderr: result.stderr,
  };
}
