/**
 * npm run e2e:kind [-- --keep-cluster] [-- --relay-image repo:tag]
 *
 * Creates a kind cluster, loads the locally built images, installs the chart, runs the same checks as
 * `dagger call e2e`, and deletes the cluster. Needs docker, kind >= v0.24.0, kubectl >= 1.31, helm.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exec } from '../local-cluster/exec.ts';
import { newRunId, STANDIN_CONTEXT } from '../src/project.ts';
import { runKindE2e } from './kind.ts';

async function main(): Promise<number> {
  let values: { 'keep-cluster'?: boolean; 'relay-image'?: string };
  try {
    ({ values } = parseArgs({
      options: { 'keep-cluster': { type: 'boolean' }, 'relay-image': { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(
      `e2e:kind: ${error instanceof Error ? error.message : String(error)}\nusage: npm run e2e:kind -- [--keep-cluster] [--relay-image repo:tag]\n`,
    );
    return 2;
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const workDir = await mkdtemp(join(tmpdir(), 'tokenplace-kind-'));
  const git = await exec('git', ['rev-parse', 'HEAD'], { cwd: repoRoot });
  try {
    const { summary } = await runKindE2e(
      {
        repoRoot,
        runId: newRunId(),
        relayImage: values['relay-image'],
        keepCluster: values['keep-cluster'] ?? false,
        workDir,
        revision: git.exitCode === 0 ? git.stdout.trim() : 'unknown',
      },
      exec,
      {
        writeFile: (path, contents) => writeFile(path, contents),
        copyFile: async (from, to) => {
          await mkdir(dirname(to), { recursive: true });
          await copyFile(from, to);
        },
      },
      (line) => process.stderr.write(`${line}\n`),
      STANDIN_CONTEXT,
    );
    process.stdout.write(`${summary}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`e2e:kind: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
