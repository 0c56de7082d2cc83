import { join } from 'node:path';
import { type CommandResult, runCommand } from '../../relay/test/container/command.ts';
import { REPO_ROOT } from './repo-facts.ts';

/** The `just` command of the npm package (its `bin`), run with this Node. The package exports no CommonJS entry to resolve. */
const JUST_CLI = join(REPO_ROOT, 'node_modules', 'rust-just', 'lib', 'index.mjs');

export type JustResult = CommandResult;

export async function runJust(args: readonly string[]): Promise<JustResult> {
  return runCommand(process.execPath, [JUST_CLI, '--justfile', join(REPO_ROOT, 'justfile'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? REPO_ROOT, NO_COLOR: '1' },
  });
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
