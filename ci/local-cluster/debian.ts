/** The Debian packages the local cluster runs on; installed when missing (as root, on Debian). */
import { type Exec, exec, must } from './exec.ts';

export const DEBIAN_PACKAGES = [
  'etcd-server',
  'containerd',
  'runc',
  'containernetworking-plugins',
  'iptables',
  'ipset',
  'conntrack',
  'iproute2',
  'openssl',
  'busybox-static',
] as const;

export async function ensureDebianPackages(log: (line: string) => void, run: Exec = exec): Promise<void> {
  const missing: string[] = [];
  for (const name of DEBIAN_PACKAGES) {
    if ((await run('dpkg', ['-s', name])).exitCode !== 0) missing.push(name);
  }
  if (missing.length === 0) return;
  log(`installing ${missing.join(' ')}`);
  await must('apt-get update', 'apt-get', ['update', '-qq'], {}, run);
  await must(
    'apt-get install',
    'apt-get',
    ['install', '-y', '-qq', '--no-install-recommends', ...missing],
    {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    },
    run,
  );
}
