/**
 * The second script runner for the cluster scenario: the same steps and judges as the Dagger `e2e`
 * function (ci/src/cluster/), run by `sh` on this machine with the cluster's kubectl and Helm on PATH,
 * then the token.place check, which needs processes outside the cluster.
 */
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { findHelm } from '../../chart/tests/helm-binary.ts';
import { clusterSteps } from '../src/cluster/outside.ts';
import { formatReport, runClusterSteps, type StepReport, summarizeCluster } from '../src/cluster/run.ts';
import { defaultScenario, OUTSIDE_GPU, type Scenario } from '../src/cluster/scenario.ts';
import type { Binaries } from './binaries.ts';
import type { ClusterHandle } from './cluster.ts';
import { exec } from './exec.ts';
import { CLUSTER_IMAGES } from './images.ts';
import { type Layout, paths } from './layout.ts';
import { outsideStandin } from './outside-host.ts';
import { startProcess, stopByPidFile, waitReady } from './processes.ts';
import { tokenplaceChecks } from './tokenplace-check.ts';

export interface LocalRun {
  layout: Layout;
  binaries: Binaries;
  cluster: ClusterHandle;
  repoRoot: string;
  runId: string;
  workDir: string;
  log: (line: string) => void;
}

export function localScenario(run: Pick<LocalRun, 'layout' | 'repoRoot' | 'runId' | 'cluster'>): Scenario {
  const [repository, tag] = CLUSTER_IMAGES.relay.split(/:(?=[^:/]+$)/);
  return defaultScenario({
    chartPath: join(run.repoRoot, 'chart'),
    examplesPath: join(run.repoRoot, 'docs/examples'),
    relayImage: { repository, tag, pullPolicy: 'Never' },
    standinImage: CLUSTER_IMAGES.standin,
    standinPullPolicy: 'Never',
    probeImage: CLUSTER_IMAGES.probe,
    runId: run.runId,
    serverLog: run.cluster.logs['kube-apiserver'],
    outsideGpu: { ...OUTSIDE_GPU, address: run.layout.gpuHost.ip },
  });
}

/** Runs every step; returns the summary, or throws naming each failed step. */
export async function runLocalScenario(run: LocalRun): Promise<string> {
  const { layout, log } = run;
  const toolDir = join(run.workDir, 'bin');
  await mkdir(toolDir, { recursive: true });
  await symlink(run.binaries.kubectl, join(toolDir, 'kubectl'));
  await symlink((await findHelm(4)).path, join(toolDir, 'helm'));
  const env = { KUBECONFIG: run.cluster.kubeconfig, PATH: `${toolDir}:${process.env.PATH ?? ''}`, TMPDIR: run.workDir };
  const scenario = localScenario(run);

  const p = paths(layout);
  const gpuHost = outsideStandin(layout, run.repoRoot, process.execPath, scenario.gpuPort);
  log(`starting the stand-in GPU server outside the cluster at ${layout.gpuHost.ip}:${scenario.gpuPort}`);
  const started = await startProcess(gpuHost, p.logs, p.pids);
  await waitReady(gpuHost, started, 30_000);
  const onReport = (report: StepReport) => {
    log(formatReport(report));
    if (report.output) log(report.output);
  };
  try {
    const reports = await runClusterSteps(
      scenario,
      (_id, script) => exec('sh', ['-c', script], { env }),
      clusterSteps(scenario),
      onReport,
    );
    if (!reports.some((r) => r.kind === 'setup' && r.status === 'failed')) {
      reports.push(...(await tokenplaceChecks({ ...run, scenario, env }, onReport)));
    }
    return summarizeCluster(reports, `e2e on a local Kubernetes ${layout.nodeName}`);
  } finally {
    await stopByPidFile(p.pids, gpuHost.name);
  }
}
