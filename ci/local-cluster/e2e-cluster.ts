/**
 * npm run e2e:cluster [-- run|up|check|down|build] [--keep]
 *
 * A real single-node Kubernetes on this machine, built from the Go module proxy and Debian packages,
 * with no image pulled: `run` (the default) builds or reuses the binaries and images, brings the
 * cluster up, runs the same cluster scenario as the Dagger `e2e` function plus token.place's real
 * server.py and client.py through the relay, and always tears everything down. `up` leaves a cluster
 * running (KUBECONFIG printed); `check` runs the checks again on it; `down` removes it; `build` only builds the binaries (CI starts it
 * early, at low priority, beside the other tests). Linux, root.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { newRunId } from '../src/project.ts';
import { ensureBinaries } from './binaries.ts';
import { clusterDown, clusterUp, runningCluster } from './cluster.ts';
import { ensureDebianPackages } from './debian.ts';
import { exec } from './exec.ts';
import { buildClusterImages, saveClusterImages } from './images.ts';
import { defaultLayout } from './layout.ts';
import { runLocalScenario } from './scenario-runner.ts';

const USAGE = 'usage: npm run e2e:cluster -- [run|up|check|down|build] [--keep]';
const log = (line: string) => process.stderr.write(`[e2e:cluster] ${line}\n`);

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ options: { keep: { type: 'boolean' } }; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ options: { keep: { type: 'boolean' } }, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`e2e:cluster: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  const action = parsed.positionals[0] ?? 'run';
  if (!['run', 'up', 'check', 'down', 'build'].includes(action) || parsed.positionals.length > 1) {
    process.stderr.write(`e2e:cluster: unknown action ${JSON.stringify(parsed.positionals.join(' '))}\n${USAGE}\n`);
    return 2;
  }
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    process.stderr.write('e2e:cluster: needs Linux and root (it creates interfaces, namespaces and iptables rules)\n');
    return 2;
  }
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const layout = defaultLayout();
  await ensureDebianPackages(log);
  const started = Date.now();
  const binaries = await ensureBinaries(layout.cacheDir, log);
  log(`binaries ready in ${Math.round((Date.now() - started) / 1000)} s`);
  if (action === 'build') return 0;
  if (action === 'down') {
    const problems = await clusterDown(layout, binaries, log);
    for (const problem of problems) log(`could not remove: ${problem}`);
    return problems.length === 0 ? 0 : 1;
  }
  const work = await mkdtemp(join(tmpdir(), 'tokenplace-e2e-cluster-'));
  if (action === 'check') {
    try {
      const cluster = runningCluster(layout);
      process.stdout.write(
        `${await runLocalScenario({ layout, binaries, cluster, repoRoot, runId: newRunId(), workDir: work, log })}\n`,
      );
      return 0;
    } catch (error) {
      process.stderr.write(`e2e:cluster: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
  let failed = true;
  try {
    const git = await exec('git', ['rev-parse', 'HEAD'], { cwd: repoRoot });
    const docker = await buildClusterImages(binaries, repoRoot, git.exitCode === 0 ? git.stdout.trim() : 'unknown', log);
    const tarball = join(work, 'images.tar');
    await saveClusterImages(docker, tarball);
    const cluster = await clusterUp(layout, binaries, tarball, log);
    if (action === 'up') {
      log(`cluster left running: KUBECONFIG=${cluster.kubeconfig}; remove it with: npm run e2e:cluster -- down`);
      failed = false;
      return 0;
    }
    const summary = await runLocalScenario({ layout, binaries, cluster, repoRoot, runId: newRunId(), workDir: work, log });
    process.stdout.write(`${summary}\n`);
    failed = false;
    return 0;
  } catch (error) {
    process.stderr.write(`e2e:cluster: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    if (action === 'run' && !parsed.values.keep) {
      if (failed) log(`logs kept in ${await keepLogs(layout.stateDir)}`);
      log('tearing the cluster down');
      const problems = await clusterDown(layout, binaries, log);
      for (const problem of problems) log(`could not remove: ${problem}`);
      if (problems.length > 0) process.exitCode = 1;
    } else if (action === 'up' && failed) {
      log(`logs kept in ${await keepLogs(layout.stateDir)}`);
      await clusterDown(layout, binaries, log);
    }
    await rm(work, { recursive: true, force: true });
  }
}

/** Copies the components' logs out of the state directory (which teardown removes). */
async function keepLogs(stateDir: string): Promise<string> {
  const target = await mkdtemp(join(tmpdir(), 'tokenplace-e2e-cluster-logs-'));
  await exec('cp', ['-r', join(stateDir, 'logs'), join(stateDir, 'pod-logs'), target]);
  return target;
}

process.exitCode = await main();
