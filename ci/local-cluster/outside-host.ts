/**
 * Processes on the GPU host outside the cluster (the runner's network namespace on the LAN bridge):
 * the stand-in GPU server, and token.place's server.py and client.py. Their PID files sit with the
 * cluster's, so `down` stops them too.
 */
import { join } from 'node:path';
import type { ProcessSpec } from './components.ts';
import type { Layout } from './layout.ts';

/** `ip netns exec` into the GPU host's namespace; the PID file names the program it execs. */
export function inGpuHost(
  l: Layout,
  name: string,
  program: string,
  args: string[],
  env: Record<string, string> = {},
): ProcessSpec {
  const assignments = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  return {
    name,
    command: 'ip',
    args: ['netns', 'exec', l.gpuHost.netns, 'env', ...assignments, program, ...args],
    program,
  };
}

/** The stand-in GPU server (OpenAI-compatible) on the outside host's address. */
export function outsideStandin(l: Layout, repoRoot: string, node: string, port: number): ProcessSpec {
  return {
    ...inGpuHost(l, 'gpu-host-standin', node, [join(repoRoot, 'ci/standin/main.ts')], {
      STANDIN_HOST: l.gpuHost.ip,
      STANDIN_PORT: String(port),
    }),
    ready: { url: `http://${l.gpuHost.ip}:${port}/v1/models` },
  };
}
