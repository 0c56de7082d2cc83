import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun } from './command.ts';
import type { Docker } from './docker.ts';
import { repoRoot } from './paths.ts';

/** How the chart runs the relay: read-only root, a tmpfs /tmp, no capabilities, no privilege gain, the image's own user. */
export const CHART_LIKE_RUN_FLAGS = [
  '--read-only',
  '--tmpfs',
  '/tmp',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
] as const;

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The 127.0.0.1 port docker published for a container port. */
export async function publishedPort(docker: Docker, container: string, port: number): Promise<number> {
  const output = await docker.run(['port', container, `${port}/tcp`]);
  const match = /127\.0\.0\.1:(\d+)/.exec(output);
  if (!match) throw new Error(`container ${container} publishes ${port}/tcp on no 127.0.0.1 port: ${output.trim()}`);
  return Number(match[1]);
}

/** Polls until GET url answers with the status (or the deadline passes, then throws with the last outcome). */
export async function waitForStatus(url: string, status: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === status) return;
      last = `status ${response.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

/**
 * Starts the stand-in GPU server (relay/demo/gpu-server.ts) on port 8000 in a container of the runtime
 * stand-in image, reachable on the network under the alias gpu-server: the relay's default upstream.
 */
export async function startStandInGpuContainer(
  docker: Docker,
  options: { image: string; name: string; network: string; tokenDelayMs: number },
) {
  const script = [
    "const { startStandInGpuServer } = await import('/srv/gpu-server.ts');",
    `await startStandInGpuServer(8000, '0.0.0.0', ${options.tokenDelayMs});`,
    "process.on('SIGTERM', () => process.exit(0));",
    "console.log('stand-in GPU server listening on 8000');",
  ].join(' ');
  await docker.run([
    'run',
    '--detach',
    '--name',
    options.name,
    '--network',
    options.network,
    '--network-alias',
    'gpu-server',
    ...CHART_LIKE_RUN_FLAGS,
    '--volume',
    `${join(repoRoot, 'relay', 'demo')}:/srv:ro`,
    options.image,
    '--input-type=module',
    '--eval',
    script,
  ]);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((await docker.run(['logs', options.name])).includes('listening on 8000')) return;
    const state = await docker.inspect<{ State: { Running: boolean } }>('container', options.name);
    if (!state.State.Running) throw new Error(`stand-in GPU server exited: ${await docker.run(['logs', options.name])}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('stand-in GPU server did not start within 30 s');
}

/** Paths (without a leading slash; directories end in /) in an image's whole filesystem, via docker export. */
export async function imageFiles(
  docker: Docker,
  image: string,
): Promise<{ paths: string[]; extract(member: string, into: string): Promise<void>; dispose(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenplace-relay-export-'));
  const tarball = join(dir, 'rootfs.tar');
  const container = (await docker.run(['create', image])).trim();
  try {
    await docker.run(['export', '--output', tarball, container]);
  } finally {
    await docker.try(['rm', '--force', container]);
  }
  const paths = (await mustRun('tar', ['-tf', tarball])).split('\n').filter(Boolean);
  return {
    paths,
    extract: async (member, into) => {
      await mustRun('tar', ['-xf', tarball, '-C', into, member]);
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
