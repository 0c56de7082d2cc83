/**
 * linux/amd64 + linux/arm64 from one Dockerfile: the TypeScript is compiled once on the build platform and
 * copied into both targets, both images go into a local registry as one multi-arch index, and the
 * other architecture's image, pulled through that index, runs under qemu user emulation.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from './command.ts';
import { CHART_LIKE_RUN_FLAGS, imageFiles, publishedPort, uniqueName, waitForStatus } from './containers.ts';
import { dockerPlatform } from './docker.ts';
import { dockerOrSkip } from './engine-gate.ts';
import {
  INDEX_MEDIA_TYPES,
  type LocalRegistry,
  MANIFEST_MEDIA_TYPES,
  registryBinary,
  startLocalRegistry,
} from './local-registry.ts';
import { RELAY_ENTRYPOINT } from './paths.ts';
import { buildRelayImage, expectedLabels, testMetadata } from './relay-image.ts';
import { multiarchTuple } from './shared-libraries.ts';
import { buildStandInBase, NONROOT_UID } from './stand-in-base.ts';

const SUITE = 'multi-arch image';
const hostPlatform = dockerPlatform();
const otherPlatform = hostPlatform === 'linux/amd64' ? 'linux/arm64' : 'linux/amd64';
const qemuName = otherPlatform === 'linux/arm64' ? 'qemu-aarch64' : 'qemu-x86_64';

async function missingTools(): Promise<string[]> {
  const missing: string[] = [];
  if (!registryBinary()) missing.push('no docker-registry binary (Debian package docker-registry)');
  const arch = otherPlatform.split('/')[1];
  if (!existsSync(`/usr/${multiarchTuple(otherPlatform)}/lib/libc.so.6`)) {
    missing.push(
      `no ${otherPlatform} C library (Debian packages libc6-${arch}-cross libstdc++6-${arch}-cross libgcc-s1-${arch}-cross)`,
    );
  }
  if ((await runCommand('readelf', ['--version'])).code !== 0) missing.push('no readelf (Debian package binutils)');
  const binfmt = `/proc/sys/fs/binfmt_misc/${qemuName}`;
  if (!existsSync(binfmt) || !readFileSync(binfmt, 'utf8').startsWith('enabled')) {
    missing.push(`no ${qemuName} binfmt_misc handler (Debian package qemu-user-static, registered with the F flag)`);
  }
  return missing;
}

const docker = await dockerOrSkip(SUITE, missingTools);

/** sha256 of every file under dir, keyed by its path relative to dir. */
function treeHashes(dir: string, prefix = ''): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const relative = join(prefix, name);
    const path = join(dir, relative);
    if (statSync(path).isDirectory()) Object.assign(hashes, treeHashes(dir, relative));
    else hashes[relative] = createHash('sha256').update(readFileSync(path)).digest('hex');
  }
  return hashes;
}

async function appTree(image: string): Promise<Record<string, string>> {
  if (!docker) throw new Error('no engine');
  const files = await imageFiles(docker, image);
  const into = mkdtempSync(join(tmpdir(), 'tokenplace-relay-app-'));
  try {
    await files.extract('app', into);
    return treeHashes(join(into, 'app'));
  } finally {
    files.dispose();
    rmSync(into, { recursive: true, force: true });
  }
}

/** Whether BuildKit reused (CACHED) the step whose log title matches. */
function stepCached(log: string, title: RegExp): boolean {
  const ids = [...log.matchAll(/^#(\d+) (\[.*)$/gm)].filter((match) => title.test(match[2])).map((match) => match[1]);
  if (ids.length === 0) throw new Error(`no build step matches ${title}`);
  return ids.every((id) => new RegExp(`^#${id} CACHED$`, 'm').test(log));
}

interface IndexBody {
  manifests: { digest: string; mediaType: string; platform: { os: string; architecture: string } }[];
}

interface ImageConfig {
  architecture: string;
  os: string;
  config: { Labels: Record<string, string>; Env: string[]; User: string; Entrypoint: string[] };
}

if (docker) {
  describe(SUITE, () => {
    const metadata = testMetadata();
    const local = (platform: string) => `tokenplace-relay:multi-arch-test-${platform.split('/')[1]}`;
    const containerName = uniqueName('tokenplace-relay-emulated');
    let otherBuildLog = '';
    let registry: LocalRegistry | undefined;
    let indexRef = '';
    const timings: string[] = [];

    beforeAll(async () => {
      const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
        const started = performance.now();
        const result = await work();
        timings.push(`${what} ${((performance.now() - started) / 1000).toFixed(1)} s`);
        return result;
      };
      const [build, hostRuntime, otherRuntime] = await timed('stand-in bases', () =>
        Promise.all([
          buildStandInBase(docker, { kind: 'build', platform: hostPlatform }),
          buildStandInBase(docker, { kind: 'runtime', platform: hostPlatform }),
          buildStandInBase(docker, { kind: 'runtime', platform: otherPlatform }),
        ]),
      );
      await timed(`${hostPlatform} build`, () =>
        buildRelayImage(docker, {
          tag: local(hostPlatform),
          platform: hostPlatform,
          buildImage: build.tag,
          runtimeImage: hostRuntime.tag,
          metadata,
        }),
      );
      otherBuildLog = await timed(`${otherPlatform} build`, () =>
        buildRelayImage(docker, {
          tag: local(otherPlatform),
          platform: otherPlatform,
          buildImage: build.tag,
          runtimeImage: otherRuntime.tag,
          metadata,
        }),
      );

      registry = await startLocalRegistry(registryBinary() as string);
      const repository = `${registry.address}/tokenplace-relay`;
      indexRef = `${repository}:${metadata.version}`;
      await timed('push + index', async () => {
        const perPlatform: string[] = [];
        for (const platform of [hostPlatform, otherPlatform]) {
          const ref = `${repository}:${metadata.version}-${platform.split('/')[1]}`;
          await docker.run(['tag', local(platform), ref]);
          await docker.run(['push', ref]);
          perPlatform.push(ref);
        }
        // `docker manifest` is experimental before CLI 20.10's successors; the variable enables it there.
        const env = { ...process.env, DOCKER_CLI_EXPERIMENTAL: 'enabled' };
        await docker.run(['manifest', 'create', '--insecure', '--amend', indexRef, ...perPlatform], { env });
        await docker.run(['manifest', 'push', '--insecure', '--purge', indexRef], { env });
      });
    }, 900_000);

    afterAll(async () => {
      await docker.try(['rm', '--force', containerName]);
      await registry?.stop();
      process.stderr.write(`[${SUITE}] ${timings.join(', ')}\n`);
    }, 120_000);

    it(`compiles once on ${hostPlatform} and copies the same files into the ${otherPlatform} image`, async () => {
      expect(stepCached(otherBuildLog, /^\[build \d+\/\d+\] RUN npm run build/)).toBe(true);
      expect(stepCached(otherBuildLog, /^\[production-dependencies \d+\/\d+\] RUN npm ci --omit=dev/)).toBe(true);
      const [hostApp, otherApp] = await Promise.all([appTree(local(hostPlatform)), appTree(local(otherPlatform))]);
      expect(Object.keys(hostApp)).toContain('dist/relay/node/main.js');
      expect(otherApp).toEqual(hostApp);
      const other = await docker.inspect<{ Architecture: string; Os: string }>('image', local(otherPlatform));
      expect(`${other.Os}/${other.Architecture}`).toBe(otherPlatform);
    });

    it('pushes one index to the local registry that lists both platforms, each image with the OCI labels', async () => {
      if (!registry) throw new Error('registry not started');
      const name = 'tokenplace-relay';
      const index = await registry.getJson<IndexBody>(`/v2/${name}/manifests/${metadata.version}`, INDEX_MEDIA_TYPES);
      expect(INDEX_MEDIA_TYPES).toContain(index.mediaType);
      const platforms = index.body.manifests.map((entry) => `${entry.platform.os}/${entry.platform.architecture}`).sort();
      expect(platforms).toEqual(['linux/amd64', 'linux/arm64']);

      for (const entry of index.body.manifests) {
        const manifest = await registry.getJson<{ config: { digest: string } }>(
          `/v2/${name}/manifests/${entry.digest}`,
          MANIFEST_MEDIA_TYPES,
        );
        const { body: config } = await registry.getJson<ImageConfig>(`/v2/${name}/blobs/${manifest.body.config.digest}`, ['*/*']);
        expect(config.architecture).toBe(entry.platform.architecture);
        expect(config.config.Labels).toMatchObject(expectedLabels(metadata));
        expect(config.config.Env).toContain('RELAY_PORT=5010');
        expect(config.config.User).toBe(`${NONROOT_UID}:${NONROOT_UID}`);
        expect(config.config.Entrypoint).toEqual(RELAY_ENTRYPOINT);
      }
    });

    it(`pulls the ${otherPlatform} image through the index and runs it under emulation like the chart does`, async () => {
      await docker.run(['pull', '--platform', otherPlatform, indexRef]);
      await docker.run([
        'run',
        '--detach',
        '--name',
        containerName,
        '--platform',
        otherPlatform,
        ...CHART_LIKE_RUN_FLAGS,
        '--publish',
        '127.0.0.1::5010',
        '--env',
        'TOKENPLACE_RELAY_DRAIN_SECONDS=0',
        indexRef,
      ]);
      const baseUrl = `http://127.0.0.1:${await publishedPort(docker, containerName, 5010)}`;
      await waitForStatus(`${baseUrl}/healthz`, 200, 90_000);
      expect(await (await fetch(`${baseUrl}/healthz`)).json()).toMatchObject({ status: 'ready', version: metadata.version });
      const arch = await docker.run(['exec', containerName, '/nodejs/bin/node', '-p', 'process.arch']);
      expect(arch.trim()).toBe(otherPlatform === 'linux/arm64' ? 'arm64' : 'x64');

      const stop = await docker.try(['stop', '--time', '20', containerName], { timeoutMs: 60_000 });
      expect(stop.code).toBe(0);
      const state = await docker.inspect<{ State: { ExitCode: number } }>('container', containerName);
      expect(state.State.ExitCode).toBe(0);
    }, 180_000);
  });
}
