import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { type CommandOptions, type CommandResult, mustRun, runCommand } from './command.ts';

/**
 * How the tests reach Docker: the CLI on PATH for everything, and a CLI that can drive BuildKit for
 * builds (the Dockerfile uses `FROM --platform=$BUILDPLATFORM`, which the legacy builder rejects).
 * Docker CLIs from 23 on build with BuildKit only through the buildx plugin; older ones (Debian
 * bookworm's docker.io) do it themselves with DOCKER_BUILDKIT=1.
 */
export interface DockerEngine {
  cli: string;
  serverVersion: string;
  build: { cli: string; args: readonly string[]; env: NodeJS.ProcessEnv; description: string };
}

export type EngineLookup = { ok: true; engine: DockerEngine } | { ok: false; reason: string };

function executablesOnPath(name: string): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      const real = realpathSync(candidate);
      if (seen.has(real)) continue;
      seen.add(real);
      found.push(candidate);
    } catch {
      // Not here.
    }
  }
  return found;
}

async function buildkitCli(candidates: string[]): Promise<DockerEngine['build'] | undefined> {
  for (const cli of candidates) {
    if ((await runCommand(cli, ['buildx', 'version'], { timeoutMs: 15_000 })).code === 0) {
      return { cli, args: ['buildx', 'build', '--load'], env: process.env, description: `${cli} buildx build` };
    }
  }
  for (const cli of candidates) {
    const version = await runCommand(cli, ['version', '--format', '{{.Client.Version}}'], { timeoutMs: 15_000 });
    const major = Number.parseInt(version.stdout.trim(), 10);
    if (Number.isFinite(major) && major < 23) {
      return {
        cli,
        args: ['build'],
        env: { ...process.env, DOCKER_BUILDKIT: '1' },
        description: `DOCKER_BUILDKIT=1 ${cli} build`,
      };
    }
  }
  return undefined;
}

/** Finds a running engine and a BuildKit-capable CLI, or says in one line why there is none. */
export async function findDockerEngine(): Promise<EngineLookup> {
  const candidates = executablesOnPath('docker');
  if (candidates.length === 0) return { ok: false, reason: 'no docker CLI on PATH' };
  const cli = candidates[0];
  const info = await runCommand(cli, ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 30_000 });
  if (info.code !== 0 || !info.stdout.trim()) {
    const why = (info.stderr.trim().split('\n').pop() ?? '').trim();
    return { ok: false, reason: `\`docker info\` failed: ${why || `exit ${info.code}`}` };
  }
  const build = await buildkitCli(candidates);
  if (!build) {
    return {
      ok: false,
      reason:
        'no docker CLI on PATH can build with BuildKit (install the buildx plugin, or Debian docker.io whose CLI has DOCKER_BUILDKIT)',
    };
  }
  return { ok: true, engine: { cli, serverVersion: info.stdout.trim(), build } };
}

export class Docker {
  readonly engine: DockerEngine;
  constructor(engine: DockerEngine) {
    this.engine = engine;
  }

  /** `docker ARGS`; throws with docker's stderr when it fails. */
  run(args: readonly string[], options: CommandOptions = {}): Promise<string> {
    return mustRun(this.engine.cli, args, { timeoutMs: 300_000, ...options });
  }

  /** `docker ARGS` with the exit code and both streams, for commands expected to fail. */
  try(args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runCommand(this.engine.cli, args, { timeoutMs: 300_000, ...options });
  }

  /** A BuildKit build with plain progress; resolves with the build log (BuildKit writes it to stderr). */
  async build(args: readonly string[], options: CommandOptions = {}): Promise<string> {
    const { build } = this.engine;
    const result = await runCommand(build.cli, [...build.args, '--progress=plain', ...args], {
      timeoutMs: 900_000,
      ...options,
      env: { ...build.env, ...options.env },
    });
    if (result.code !== 0) {
      throw new Error(`${build.description} failed (exit ${result.code}):\n${(result.stderr + result.stdout).slice(-6000)}`);
    }
    return result.stderr + result.stdout;
  }

  async inspect<T = Record<string, unknown>>(kind: 'image' | 'container' | 'network', name: string): Promise<T> {
    const [first] = JSON.parse(await this.run([kind, 'inspect', name])) as T[];
    return first;
  }

  async imageExists(name: string): Promise<boolean> {
    return (await this.try(['image', 'inspect', name])).code === 0;
  }
}

/** docker's platform names for the architectures Node reports. */
export function dockerPlatform(arch: string = process.arch): 'linux/amd64' | 'linux/arm64' {
  if (arch === 'x64' || arch === 'amd64') return 'linux/amd64';
  if (arch === 'arm64') return 'linux/arm64';
  throw new Error(`no linux image platform for architecture ${arch}`);
}
