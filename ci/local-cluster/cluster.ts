/**
 * Brings the local cluster up and tears it down. `clusterUp` starts from a clean slate (it runs
 * `clusterDown` first), so it is idempotent; `clusterDown` stops everything the runner started, by
 * PID file, then removes sandboxes, iptables rules, mounts, cgroups, interfaces and state, trying
 * every step even when one fails, and reports what it could not remove.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { corednsManifests, kubeRouterRbac, manifestList } from './addons.ts';
import type { Binaries } from './binaries.ts';
import { processSpecs } from './components.ts';
import { cniConfig, containerdConfig, kubeconfig, kubeletConfig, kubeProxyConfig, resolvConf } from './configs.ts';
import { type Exec, exec, must } from './exec.ts';
import { type Layout, paths } from './layout.ts';
import { deleteKubernetesRules, kubernetesChainsPresent, networkDown, networkUp } from './network.ts';
import { clientIdentities, ensurePki } from './pki.ts';
import { killQuietly, logTail, pidFileNames, pidsMatching, startProcess, stopByPidFile, waitReady } from './processes.ts';

export interface ClusterHandle {
  kubeconfig: string;
  /** Log file of each process, by name. */
  logs: Record<string, string>;
}

const START_TIMEOUT_MS = 120_000;

async function writeConfigs(l: Layout): Promise<void> {
  const p = paths(l);
  for (const dir of [p.config, p.logs, p.pids, p.cniConfDir, p.cniIpamDir, p.podLogs, p.kubeletRoot, l.runDir]) {
    await mkdir(dir, { recursive: true });
  }
  await ensurePki(l, p.pki);
  for (const id of clientIdentities(l)) await writeFile(join(p.config, `${id.name}.kubeconfig`), kubeconfig(l, id.name));
  await writeFile(join(p.config, 'containerd.toml'), containerdConfig(l));
  await writeFile(join(p.config, 'kubelet.json'), kubeletConfig(l));
  await writeFile(join(p.config, 'kube-proxy.json'), kubeProxyConfig(l));
  await writeFile(join(p.config, 'resolv.conf'), resolvConf(l));
  await writeFile(join(p.cniConfDir, '10-tokenplace-e2e.conflist'), cniConfig(l));
}

export async function clusterUp(
  l: Layout,
  bin: Binaries,
  imagesTarball: string,
  log: (line: string) => void,
): Promise<ClusterHandle> {
  const leftovers = await clusterDown(l, bin, () => {});
  if (leftovers.length > 0) throw new Error(`a previous cluster could not be removed:\n${leftovers.join('\n')}`);
  if (await kubernetesChainsPresent()) {
    throw new Error(
      "another Kubernetes runs on this machine (iptables has KUBE-* chains that are not this runner's); a second kube-proxy and kubelet would fight over them, so e2e:cluster needs the machine to itself",
    );
  }
  const p = paths(l);
  await writeConfigs(l);
  await networkUp(l);
  const ca = await readFile(join(p.pki, 'ca.crt'));
  const kubectl = (what: string, args: string[], input?: string) =>
    must(what, bin.kubectl, ['--kubeconfig', p.adminKubeconfig, ...args], { input });
  const logs: Record<string, string> = {};
  for (const spec of processSpecs(l, bin)) {
    if (spec.name === 'kubelet') {
      log('importing the images into containerd');
      await must('ctr images import', 'ctr', [
        '--address',
        p.containerdSocket,
        '-n',
        'k8s.io',
        'images',
        'import',
        imagesTarball,
      ]);
    }
    log(`starting ${spec.name}`);
    const started = await startProcess(spec, p.logs, p.pids);
    logs[spec.name] = started.log;
    await waitReady(spec, started, START_TIMEOUT_MS, ca);
    if (spec.name === 'kube-apiserver') {
      await kubectl('kube-router RBAC', ['apply', '-f', '-'], manifestList(kubeRouterRbac()));
    }
  }
  log('waiting for the node to be Ready');
  await waitFor(
    async () => (await exec(bin.kubectl, ['--kubeconfig', p.adminKubeconfig, 'get', 'node', l.nodeName])).exitCode === 0,
    'the node to register',
    START_TIMEOUT_MS,
    logs.kubelet,
  );
  await kubectl('node Ready', ['wait', '--for=condition=Ready', `node/${l.nodeName}`, '--timeout=180s']);
  log('deploying CoreDNS');
  await kubectl('CoreDNS', ['apply', '-f', '-'], manifestList(corednsManifests(l)));
  await kubectl('CoreDNS rollout', ['-n', 'kube-system', 'rollout', 'status', 'deploy/coredns', '--timeout=180s']);
  await waitFor(
    async () => {
      const out = await exec('busybox', ['nslookup', 'kubernetes.default.svc.cluster.local', l.dnsServiceIp]);
      return out.exitCode === 0 && out.stdout.includes(l.apiServiceIp);
    },
    'cluster DNS to answer for kubernetes.default',
    60_000,
    logs.kubelet,
  );
  log(`cluster up: node ${l.nodeName} Ready at ${l.nodeIp}, DNS at ${l.dnsServiceIp}`);
  return { kubeconfig: p.adminKubeconfig, logs };
}

/** The cluster `up` left running, for `check`; throws when there is none. */
export function runningCluster(l: Layout): ClusterHandle {
  const p = paths(l);
  if (!existsSync(p.adminKubeconfig)) throw new Error('no cluster is running here: start one with `npm run e2e:cluster -- up`');
  const logs = Object.fromEntries(
    ['etcd', 'kube-apiserver', 'kubelet', 'containerd'].map((name) => [name, join(p.logs, `${name}.log`)]),
  );
  return { kubeconfig: p.adminKubeconfig, logs };
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  throw new Error(`timed out waiting for ${what}${logFile ? `; tail of ${logFile}:\n${await logTail(logFile)}` : ''}`);
}

/** Mount points under the cluster's directories or its pods' network namespaces, deepest first. */
async function clusterMounts(l: Layout): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => Boolean(point))
    .map((point) => point.replace(/\\040/g, ' '))
    .filter((point) => point.startsWith(`${l.stateDir}/`) || point.startsWith(`${l.runDir}/`) || point === l.runDir);
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Network namespaces of pods on the cluster's pod network (cni-*), left when a sandbox was not removed. */
async function podNetns(l: Layout, run: Exec): Promise<string[]> {
  const listed = await run('ip', ['netns', 'list']);
  const prefix = l.nodePodCidr.split('.').slice(0, 3).join('.');
  const found: string[] = [];
  for (const name of listed.stdout.split('\n').map((line) => line.split(' ')[0])) {
    if (!name.startsWith('cni-')) continue;
    const addr = await run('ip', ['-n', name, '-4', 'addr']);
    if (addr.stdout.includes(`inet ${prefix}.`)) found.push(name);
  }
  return found;
}

/** cgroup v1 directories the kubelet made (cgroupfs driver), deepest first. */
async function kubeletCgroups(): Promise<string[]> {
  const root = '/sys/fs/cgroup';
  const found: string[] = [];
  const walk = async (dir: string) => {
    found.push(dir);
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await walk(join(dir, entry.name));
    }
  };
  for (const controller of await readdir(root).catch(() => [] as string[])) {
    const dir = join(root, controller, 'kubepods');
    if (existsSync(dir)) await walk(dir);
  }
  return found.sort((a, b) => b.length - a.length);
}

export async function clusterDown(
  l: Layout,
  bin: Partial<Binaries>,
  log: (line: string) => void,
  run: Exec = exec,
): Promise<string[]> {
  const p = paths(l);
  // The runner's state folder says the Kubernetes whose iptables chains are here was this runner's.
  const owned = existsSync(p.pids);
  const problems: string[] = [];
  const note = (problem: string | undefined) => {
    if (problem) problems.push(problem);
  };
  const running = await pidFileNames(p.pids);
  if (running.length > 0) log(`stopping ${running.join(', ')}`);
  note(await stopByPidFile(p.pids, 'kubelet'));
  if (bin.crictl && existsSync(p.containerdSocket) && running.includes('containerd')) {
    const crictl = ['--runtime-endpoint', `unix://${p.containerdSocket}`, '--timeout', '20s'];
    const pods = await run(bin.crictl, [...crictl, 'pods', '-q']);
    for (const id of pods.stdout.split('\n').filter(Boolean)) {
      await run(bin.crictl, [...crictl, 'stopp', id]);
      await run(bin.crictl, [...crictl, 'rmp', '-f', id]);
    }
  }
  for (const name of [
    'kube-router',
    'kube-proxy',
    'kube-scheduler',
    'kube-controller-manager',
    'kube-apiserver',
    'etcd',
    'containerd',
  ]) {
    note(await stopByPidFile(p.pids, name));
  }
  // Whatever containerd's shims still run (their containers die with them).
  for (const pid of await pidsMatching(p.containerdSocket)) killQuietly(pid);
  for (const cgroup of (await kubeletCgroups()).filter((dir) => dir.includes('/pids/') || dir.includes('/cpu,'))) {
    const procs = await readFile(join(cgroup, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) killQuietly(Number(pid));
  }
  if (owned) {
    if (bin['kube-proxy']) await run(bin['kube-proxy'], ['--cleanup']);
    problems.push(...(await deleteKubernetesRules(run)));
  }
  for (const ns of await podNetns(l, run)) {
    const out = await run('ip', ['netns', 'delete', ns]);
    if (out.exitCode !== 0) problems.push(`pod network namespace ${ns}: ${out.stderr.trim()}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const point of await clusterMounts(l)) {
    const out = await run('umount', [point]);
    if (out.exitCode !== 0) {
      const lazy = await run('umount', ['-l', point]);
      if (lazy.exitCode !== 0) problems.push(`umount ${point}: ${lazy.stderr.trim()}`);
    }
  }
  for (const dir of await kubeletCgroups()) await rmdir(dir).catch(() => {});
  const leftCgroups = await kubeletCgroups();
  if (leftCgroups.length > 0) problems.push(`cgroups left: ${leftCgroups.slice(0, 3).join(', ')}`);
  problems.push(...(await networkDown(l, run)));
  for (const dir of [l.runDir, l.stateDir]) {
    await rm(dir, { recursive: true, force: true }).catch((error: Error) => problems.push(`rm ${dir}: ${error.message}`));
  }
  // What must be gone now: the processes that used the cluster's folders, and (if ours) the KUBE-* chains.
  for (const dir of [l.runDir, l.stateDir]) {
    const left = await pidsMatching(dir);
    if (left.length > 0) problems.push(`processes still running with ${dir} on their command line: ${left.join(', ')}`);
  }
  if (owned && (await kubernetesChainsPresent(run))) problems.push('iptables still has KUBE-* chains');
  return problems;
}
