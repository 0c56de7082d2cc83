/**
 * The cluster's programs, built from the Go module proxy by the wrapper modules under go/ and kept in
 * a cache outside the repository, keyed by each module's files, flags and Go version: a second run
 * reuses them, and Go's own build cache makes a rebuild after a change cheap.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Exec, exec, must } from './exec.ts';
import { VERSIONS } from './layout.ts';

export const GO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'go');

export interface Component {
  /** Folder under go/ with the wrapper go.mod. */
  module: string;
  version: string;
  packages: readonly string[];
  binaries: readonly string[];
  ldflags: string;
}

const K8S_VERSION_STAMP = (() => {
  const [major, minor] = VERSIONS.kubernetes.replace(/^v/, '').split('.');
  // Without the version stamp the binaries report v0.0.0 and Helm's kubeVersion check refuses the chart.
  return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
    .flatMap((pkg) => [
      `-X ${pkg}.gitVersion=${VERSIONS.kubernetes}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
    ])
    .join(' ');
})();

export const COMPONENTS: readonly Component[] = [
  {
    module: 'kubernetes',
    version: VERSIONS.kubernetes,
    packages: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'].map(
      (cmd) => `k8s.io/kubernetes/cmd/${cmd}`,
    ),
    binaries: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'],
    ldflags: `-s -w ${K8S_VERSION_STAMP}`,
  },
  {
    module: 'coredns',
    version: VERSIONS.coredns,
    packages: ['github.com/coredns/coredns'],
    binaries: ['coredns'],
    ldflags: '-s -w',
  },
  {
    module: 'kube-router',
    version: VERSIONS.kubeRouter,
    packages: ['github.com/cloudnativelabs/kube-router/v2/cmd/kube-router'],
    binaries: ['kube-router'],
    ldflags: '-s -w',
  },
  {
    module: 'cri-tools',
    version: VERSIONS.criTools,
    packages: ['sigs.k8s.io/cri-tools/cmd/crictl'],
    binaries: ['crictl'],
    ldflags: '-s -w',
  },
  { module: 'pause', version: 'v1', packages: ['.'], binaries: ['pause'], ldflags: '-s -w' },
];

/** Where every binary of the cluster is, by name. */
export type Binaries = Record<string, string>;

/** A cache key over what decides the binaries: the module's files, the flags and the Go toolchain. */
export async function componentKey(component: Component, goVersion: string): Promise<string> {
  const dir = join(GO_DIR, component.module);
  const hash = createHash('sha256').update(`${goVersion}\n${component.ldflags}\n${component.packages.join(' ')}\n`);
  for (const file of (await readdir(dir)).sort()) hash.update(`${file}\n`).update(await readFile(join(dir, file)));
  return `${component.module}-${component.version}-${hash.digest('hex').slice(0, 12)}`;
}

/** Builds what is missing (static binaries, CGO off), reuses the rest; returns the path of every binary. */
export async function ensureBinaries(cacheDir: string, log: (line: string) => void, run: Exec = exec): Promise<Binaries> {
  const goVersion = (await must('go version (is Go installed?)', 'go', ['version'], {}, run)).stdout.trim();
  const binaries: Binaries = {};
  for (const component of COMPONENTS) {
    const target = join(cacheDir, 'bin', await componentKey(component, goVersion));
    if (!component.binaries.every((name) => existsSync(join(target, name)))) {
      log(`building ${component.module} ${component.version} (${component.binaries.join(', ')}) into ${target}`);
      const started = Date.now();
      const partial = `${target}.partial`;
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true });
      await must(
        `go build of ${component.module}`,
        'go',
        ['build', '-trimpath', '-ldflags', component.ldflags, '-o', `${partial}/`, ...component.packages],
        { cwd: join(GO_DIR, component.module), env: { CGO_ENABLED: '0' }, capture: false },
        run,
      );
      await rm(target, { recursive: true, force: true });
      await rename(partial, target);
      log(`built ${component.module} in ${Math.round((Date.now() - started) / 1000)} s`);
    }
    for (const name of component.binaries) binaries[name] = join(target, name);
  }
  return binaries;
}
