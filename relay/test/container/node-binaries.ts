import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mustRun } from './command.ts';
import { repoRoot } from './paths.ts';

/** The Node version the project pins through the `node` devDependency (the one npm scripts run). */
export function pinnedNodeVersion(): string {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const version = lock.packages['node_modules/node']?.version;
  if (!version) throw new Error('package-lock.json pins no `node` package');
  return version;
}

function npmArch(platform: string): 'x64' | 'arm64' {
  if (platform === 'linux/amd64') return 'x64';
  if (platform === 'linux/arm64') return 'arm64';
  throw new Error(`no Node binary package for ${platform}`);
}

/**
 * The pinned Node binary for a platform. The build machine's own comes from node_modules, where the
 * `node` package's install script put node-linux-<arch>; another architecture's is unpacked once from
 * the npm registry (`npm pack node-linux-<arch>@<version>`) into the git-ignored .tools/ folder.
 */
export async function nodeBinaryFor(platform: string): Promise<string> {
  const version = pinnedNodeVersion();
  const pkg = `node-linux-${npmArch(platform)}`;
  const installed = join(repoRoot, 'node_modules', 'node', 'node_modules', pkg);
  if (existsSync(join(installed, 'bin', 'node'))) {
    const installedVersion = (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string }).version;
    if (installedVersion === version) return join(installed, 'bin', 'node');
  }
  const unpacked = join(repoRoot, '.tools', `${pkg}-${version}`);
  const binary = join(unpacked, 'bin', 'node');
  if (existsSync(binary)) return binary;
  // Test files may run as threads of one process, so the pid alone does not make the folder unique.
  // Test files run in parallel and may all need the package: each unpacks into its own folder,
  // the first rename wins, and a failed attempt is retried once unless another one succeeded.
  for (let attempt = 1; ; attempt++) {
    const staging = `${unpacked}.partial-${process.pid}-${randomUUID()}`;
    try {
      mkdirSync(staging, { recursive: true });
      const packed = (
        await mustRun('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', staging], { timeoutMs: 300_000 })
      )
        .trim()
        .split('\n')
        .pop() as string;
      await mustRun('tar', [
        '-xzf',
        join(staging, packed),
        '-C',
        staging,
        '--strip-components=1',
        'package/bin/node',
        'package/package.json',
      ]);
      rmSync(join(staging, packed));
      try {
        renameSync(staging, unpacked);
      } catch (err) {
        if (!existsSync(binary)) throw err;
      }
      break;
    } catch (err) {
      if (existsSync(binary)) break;
      if (attempt >= 2) throw err;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return binary;
}
