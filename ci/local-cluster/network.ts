/**
 * The runner's own network: a bridge that is the node's LAN (the node and the API server are
 * advertised there, never on the machine's address), a network namespace on it for a GPU host outside
 * the cluster, and FORWARD rules for the pod and LAN bridges (Docker sets the FORWARD policy to DROP).
 * Every rule carries a comment so teardown finds exactly what the runner added.
 */
import { type Exec, exec, must } from './exec.ts';
import type { Layout } from './layout.ts';

export const RULE_COMMENT = 'tokenplace-e2e';

/** Appended, so kube-router's policy chains (inserted first) still judge pod traffic before these accept it. */
export function forwardRules(l: Layout): string[][] {
  const comment = ['-m', 'comment', '--comment', RULE_COMMENT];
  return [l.cniBridge, l.lanBridge].flatMap((dev) => [
    ['FORWARD', '-i', dev, ...comment, '-j', 'ACCEPT'],
    ['FORWARD', '-o', dev, ...comment, '-j', 'ACCEPT'],
  ]);
}

function prefixLength(cidr: string): string {
  return cidr.split('/')[1];
}

export async function networkUp(l: Layout, run: Exec = exec): Promise<void> {
  const ip = (what: string, args: string[]) => must(what, 'ip', args, {}, run);
  const g = l.gpuHost;
  await ip('LAN bridge', ['link', 'add', l.lanBridge, 'type', 'bridge']);
  await ip('LAN address', ['addr', 'add', `${l.nodeIp}/${prefixLength(l.lanCidr)}`, 'dev', l.lanBridge]);
  await ip('LAN up', ['link', 'set', l.lanBridge, 'up']);
  await ip('GPU host namespace', ['netns', 'add', g.netns]);
  await ip('GPU host link', ['link', 'add', g.vethHost, 'type', 'veth', 'peer', 'name', g.vethHostSide]);
  await ip('GPU host link into its namespace', ['link', 'set', g.vethHostSide, 'netns', g.netns]);
  await ip('GPU host link on the LAN', ['link', 'set', g.vethHost, 'master', l.lanBridge]);
  await ip('GPU host link up', ['link', 'set', g.vethHost, 'up']);
  await ip('GPU host address', ['-n', g.netns, 'addr', 'add', `${g.ip}/${prefixLength(l.lanCidr)}`, 'dev', g.vethHostSide]);
  await ip('GPU host link up inside', ['-n', g.netns, 'link', 'set', g.vethHostSide, 'up']);
  await ip('GPU host loopback', ['-n', g.netns, 'link', 'set', 'lo', 'up']);
  await ip('GPU host route', ['-n', g.netns, 'route', 'add', 'default', 'via', l.nodeIp]);
  await must('IP forwarding', 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'], {}, run);
  for (const rule of forwardRules(l)) await must('FORWARD rule', 'iptables', ['-w', '-A', ...rule], {}, run);
}

/** Removes what networkUp and the pod network left; each step is tried even when another fails. */
export async function networkDown(l: Layout, run: Exec = exec): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (what: string, command: string, args: string[], missingOk: RegExp) => {
    const out = await run(command, args);
    if (out.exitCode !== 0 && !missingOk.test(out.stderr)) problems.push(`${what}: ${out.stderr.trim()}`);
  };
  const missing = /Cannot find device|No such file|does not exist|Cannot open network namespace/i;
  await attempt('GPU host namespace', 'ip', ['netns', 'delete', l.gpuHost.netns], missing);
  await attempt('GPU host link', 'ip', ['link', 'delete', l.gpuHost.vethHost], missing);
  await attempt('LAN bridge', 'ip', ['link', 'delete', l.lanBridge], missing);
  await attempt('pod bridge', 'ip', ['link', 'delete', l.cniBridge], missing);
  problems.push(...(await deleteCommentedRules(run)));
  return problems;
}

/** Deletes every iptables rule (filter and nat) whose comment names the runner or its CNI network. */
export async function deleteCommentedRules(run: Exec = exec): Promise<string[]> {
  const problems: string[] = [];
  for (const table of ['filter', 'nat']) {
    const listed = await run('iptables', ['-w', '-t', table, '-S']);
    if (listed.exitCode !== 0) {
      problems.push(`iptables -t ${table} -S: ${listed.stderr.trim()}`);
      continue;
    }
    const chains = new Set<string>();
    for (const line of listed.stdout.split('\n')) {
      if (!line.startsWith('-A ') || !line.includes(RULE_COMMENT)) continue;
      const spec = splitRule(line.slice(3));
      const out = await run('iptables', ['-w', '-t', table, '-D', ...spec]);
      if (out.exitCode !== 0) problems.push(`iptables -t ${table} -D ${spec.join(' ')}: ${out.stderr.trim()}`);
      const jump = spec.indexOf('-j');
      if (jump > 0 && spec[jump + 1]?.startsWith('CNI-')) chains.add(spec[jump + 1]);
    }
    // The bridge plugin's masquerade chains, left when a sandbox was not torn down through CNI.
    for (const chain of chains) {
      await run('iptables', ['-w', '-t', table, '-F', chain]);
      await run('iptables', ['-w', '-t', table, '-X', chain]);
    }
  }
  return problems;
}

/** Splits an `iptables -S` line into arguments, keeping quoted comments whole. */
export function splitRule(line: string): string[] {
  const args: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = pattern.exec(line); m; m = pattern.exec(line)) args.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return args;
}

const BUILTIN_CHAINS = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']);

/** Whether iptables holds chains of a Kubernetes (kube-proxy, kube-router, kubelet): `KUBE-*`. */
export async function kubernetesChainsPresent(run: Exec = exec): Promise<boolean> {
  for (const table of ['filter', 'nat', 'mangle']) {
    const listed = await run('iptables', ['-w', '-t', table, '-S']);
    if (/^-N KUBE-/m.test(listed.stdout)) return true;
  }
  return false;
}

/**
 * Removes every `KUBE-*` chain, the rules of the built-in chains that jump to them, and kube-router's
 * `KUBE-*` ipsets. Only for a machine whose Kubernetes was this runner's (the caller checks):
 * kube-proxy's and kube-router's own clean-up commands leave kube-router's policy chains, the
 * kubelet's firewall chains and kube-router's ipsets behind (kube-router v2.1.0's even crashes).
 */
export async function deleteKubernetesRules(run: Exec = exec): Promise<string[]> {
  const problems: string[] = [];
  for (const table of ['filter', 'nat', 'mangle']) {
    const listed = await run('iptables', ['-w', '-t', table, '-S']);
    if (listed.exitCode !== 0) continue;
    const chains: string[] = [];
    for (const line of listed.stdout.split('\n')) {
      if (line.startsWith('-N KUBE-')) chains.push(line.slice(3).trim());
      if (!line.startsWith('-A ')) continue;
      const spec = splitRule(line.slice(3));
      const jump = spec[spec.indexOf('-j') + 1] ?? '';
      if (BUILTIN_CHAINS.has(spec[0]) && jump.startsWith('KUBE-')) {
        const out = await run('iptables', ['-w', '-t', table, '-D', ...spec]);
        if (out.exitCode !== 0) problems.push(`iptables -t ${table} -D ${spec.join(' ')}: ${out.stderr.trim()}`);
      }
    }
    for (const chain of chains) await run('iptables', ['-w', '-t', table, '-F', chain]);
    for (const chain of chains) {
      const out = await run('iptables', ['-w', '-t', table, '-X', chain]);
      if (out.exitCode !== 0) problems.push(`iptables -t ${table} -X ${chain}: ${out.stderr.trim()}`);
    }
  }
  const sets = await run('ipset', ['list', '-n']);
  for (const name of sets.stdout.split('\n').filter((set) => set.startsWith('KUBE-'))) {
    const out = await run('ipset', ['destroy', name]);
    if (out.exitCode !== 0) problems.push(`ipset destroy ${name}: ${out.stderr.trim()}`);
  }
  return problems;
}
