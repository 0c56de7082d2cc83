/**
 * The kind path: the same cluster steps and judges as the Dagger `e2e` function, against a
 * throw-away kind cluster. The orchestration takes its command runner as a parameter so it is
 * unit-tested without kind; `e2e-kind.ts` wires it to real processes.
 */
import type { ClusterStep } from '../src/cluster/checks.ts';
import type { CommandOutput } from '../src/cluster/judge.ts';
import { clusterSteps } from '../src/cluster/outside.ts';
import { formatReport, runClusterSteps, type StepReport, summarizeCluster } from '../src/cluster/run.ts';
import { defaultScenario } from '../src/cluster/scenario.ts';
import { IMAGES } from '../src/images.ts';

export interface ExecOptions {
  env?: Record<string, string>;
  /** false streams the program's output to the terminal instead of returning it. */
  capture?: boolean;
  cwd?: string;
}

export type Exec = (command: string, args: string[], options?: ExecOptions) => Promise<CommandOutput>;

export interface KindFiles {
  writeFile(path: string, contents: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
}

export interface KindOptions {
  repoRoot: string;
  runId: string;
  /** A local image (repo:tag) to test instead of building the Dockerfile. */
  relayImage?: string;
  keepCluster: boolean;
  /** Temporary directory for the kubeconfig, the kind config and the stand-in build context. */
  workDir: string;
  revision: string;
}

/** kind enforces NetworkPolicy from v0.24.0 on: its kindnetd embeds kube-network-policies. */
export const MIN_KIND_VERSION = [0, 24, 0] as const;

export function parseKindVersion(output: string): [number, number, number] {
  const match = /\bv(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (!match) throw new Error(`kind version: cannot read a version from ${JSON.stringify(output.trim())}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

export function atLeast(version: readonly number[], minimum: readonly number[]): boolean {
  for (let i = 0; i < minimum.length; i++) {
    if (version[i] !== minimum[i]) return version[i] > minimum[i];
  }
  return true;
}

/**
 * The kind cluster config (JSON is valid YAML). The default CNI stays on: kindnetd enforces
 * NetworkPolicy since kind v0.24.0, so no Calico install is needed. Setting `disableDefaultCNI`
 * would leave the cluster with no pod network at all until another CNI is installed.
 */
export function kindClusterConfig(): Record<string, unknown> {
  return {
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    networking: { disableDefaultCNI: false },
    nodes: [{ role: 'control-plane', image: IMAGES.kindNode }],
  };
}

export function clusterName(runId: string): string {
  return `tokenplace-e2e-${runId}`;
}

/** `repo:tag`; the tag is required, since a kind-loaded `:latest` image would be pulled instead. */
export function splitImage(image: string): [string, string] {
  const at = image.lastIndexOf(':');
  if (at <= 0 || image.slice(at).includes('/')) {
    throw new Error(`--relay-image ${JSON.stringify(image)} needs an explicit tag, e.g. tokenplace-relay:dev`);
  }
  return [image.slice(0, at), image.slice(at + 1)];
}

async function must(exec: Exec, what: string, command: string, args: string[], options?: ExecOptions): Promise<CommandOutput> {
  const out = await exec(command, args, options);
  if (out.exitCode !== 0) {
    const detail = `${out.stdout}\n${out.stderr}`.trim().split('\n').slice(-8).join('\n');
    throw new Error(`${what} failed (${command} ${args.join(' ')} exited ${out.exitCode})${detail ? `:\n${detail}` : ''}`);
  }
  return out;
}

export async function runKindE2e(
  options: KindOptions,
  exec: Exec,
  files: KindFiles,
  log: (line: string) => void,
  standinContext: readonly string[],
  steps?: readonly ClusterStep[],
): Promise<{ reports: StepReport[]; summary: string }> {
  const version = parseKindVersion((await must(exec, 'kind version', 'kind', ['version'])).stdout);
  if (!atLeast(version, MIN_KIND_VERSION)) {
    throw new Error(
      `kind v${version.join('.')} does not enforce NetworkPolicy; install kind v${MIN_KIND_VERSION.join('.')} or newer`,
    );
  }
  const tools: [string, string[]][] = [
    ['kubectl', ['version', '--client']],
    ['helm', ['version', '--short']],
    ['docker', ['version', '--format', '{{.Server.Version}}']],
  ];
  for (const [tool, args] of tools) await must(exec, `${tool} (is it installed and working?)`, tool, args);

  const tag = `kind-${options.runId}`;
  const relayImage = options.relayImage ?? `tokenplace-relay:${tag}`;
  const [repository, imageTag] = splitImage(relayImage);
  const standinImage = `gpu-standin:${tag}`;
  if (options.relayImage === undefined) {
    log(`building ${relayImage} from the Dockerfile`);
    await must(
      exec,
      'docker build of the relay image',
      'docker',
      ['build', '--tag', relayImage, '--build-arg', `REVISION=${options.revision}`, '.'],
      {
        cwd: options.repoRoot,
        capture: false,
      },
    );
  }
  log(`building ${standinImage}`);
  const context = `${options.workDir}/standin-context`;
  for (const path of standinContext) await files.copyFile(`${options.repoRoot}/${path}`, `${context}/${path}`);
  await must(
    exec,
    'docker build of the stand-in GPU server',
    'docker',
    ['build', '--tag', standinImage, '--file', `${context}/ci/standin/Dockerfile`, context],
    { capture: false },
  );

  const name = clusterName(options.runId);
  const kubeconfig = `${options.workDir}/kubeconfig`;
  const configPath = `${options.workDir}/kind.json`;
  await files.writeFile(configPath, `${JSON.stringify(kindClusterConfig(), null, 2)}\n`);
  log(`creating kind cluster ${name}`);
  const created = await exec(
    'kind',
    ['create', 'cluster', '--name', name, '--config', configPath, '--kubeconfig', kubeconfig, '--wait', '180s'],
    {
      capture: false,
    },
  );
  try {
    if (created.exitCode !== 0) throw new Error(`kind create cluster failed (exit ${created.exitCode})`);
    await must(exec, 'kind load docker-image', 'kind', ['load', 'docker-image', '--name', name, relayImage, standinImage], {
      capture: false,
    });
    const scenario = defaultScenario({
      chartPath: `${options.repoRoot}/chart`,
      examplesPath: `${options.repoRoot}/docs/examples`,
      relayImage: { repository, tag: imageTag, pullPolicy: 'IfNotPresent' },
      standinImage,
      probeImage: IMAGES.busybox,
      runId: options.runId,
    });
    const reports = await runClusterSteps(
      scenario,
      (_id, script) => exec('sh', ['-c', script], { env: { KUBECONFIG: kubeconfig } }),
      steps ?? clusterSteps(scenario),
      (report) => {
        log(formatReport(report));
        if (report.output) log(report.output);
      },
    );
    return { reports, summary: summarizeCluster(reports, `e2e on kind (${name})`) };
  } finally {
    if (options.keepCluster) {
      log(`keeping cluster ${name}; KUBECONFIG=${kubeconfig}; delete it with: kind delete cluster --name ${name}`);
    } else {
      log(`deleting kind cluster ${name}`);
      const out = await exec('kind', ['delete', 'cluster', '--name', name, '--kubeconfig', kubeconfig]);
      if (out.exitCode !== 0) log(`could not delete cluster ${name}: ${out.stderr.trim()}`);
    }
  }
}
