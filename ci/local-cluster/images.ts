/**
 * The images the local cluster runs, built here because none can be pulled: a pause image and CoreDNS
 * `FROM scratch` around the static binaries, a probe image with Debian's static busybox (wget, nslookup,
 * sh), the relay from the repository's Dockerfile on local stand-ins for its base images, and the
 * stand-in GPU server. They are handed to the cluster's containerd with `ctr images import`.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Docker, dockerPlatform, findDockerEngine } from '../../relay/test/container/docker.ts';
import { buildRelayImage, testMetadata } from '../../relay/test/container/relay-image.ts';
import { buildStandInBase } from '../../relay/test/container/stand-in-base.ts';
import { STANDIN_CONTEXT } from '../src/project.ts';
import type { Binaries } from './binaries.ts';
import { IMAGE_PREFIX, PAUSE_IMAGE } from './configs.ts';
import { VERSIONS } from './layout.ts';

export const CLUSTER_IMAGES = {
  pause: PAUSE_IMAGE,
  coredns: `${IMAGE_PREFIX}/coredns:${VERSIONS.coredns}`,
  probe: `${IMAGE_PREFIX}/busybox:static`,
  relay: `${IMAGE_PREFIX}/tokenplace-relay:e2e`,
  standin: `${IMAGE_PREFIX}/gpu-standin:e2e`,
} as const;

export const BUSYBOX = '/bin/busybox';

/** A Dockerfile `FROM scratch` that runs one static binary as a non-root user. */
export function scratchDockerfile(binary: string, user: string): string {
  return `FROM scratch\nCOPY ${binary} /${binary}\nUSER ${user}\nENTRYPOINT ["/${binary}"]\n`;
}

/** busybox's applets as links next to it; `--install` runs in the build with the image's own busybox. */
export const PROBE_DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY passwd /etc/passwd
USER 65532:65532
ENTRYPOINT ["/bin/sh"]
`;

async function scratchContext(files: Record<string, string>, contents: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tokenplace-e2e-image-'));
  for (const [name, from] of Object.entries(files)) await copyFile(from, join(dir, name));
  for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text);
  return dir;
}

export async function buildClusterImages(
  bin: Binaries,
  repoRoot: string,
  revision: string,
  log: (line: string) => void,
): Promise<Docker> {
  const found = await findDockerEngine();
  if (!found.ok) throw new Error(`the local cluster's images need a Docker engine: ${found.reason}`);
  const docker = new Docker(found.engine);
  const platform = dockerPlatform();
  const contexts: string[] = [];
  try {
    const simple: [string, Record<string, string>, Record<string, string>][] = [
      [CLUSTER_IMAGES.pause, { pause: bin.pause }, { Dockerfile: scratchDockerfile('pause', '65535:65535') }],
      [CLUSTER_IMAGES.coredns, { coredns: bin.coredns }, { Dockerfile: scratchDockerfile('coredns', '65532:65532') }],
      [
        CLUSTER_IMAGES.probe,
        { busybox: BUSYBOX },
        { Dockerfile: PROBE_DOCKERFILE, passwd: 'root:x:0:0:root:/:/bin/sh\nnonroot:x:65532:65532:nonroot:/:/bin/sh\n' },
      ],
    ];
    for (const [tag, files, texts] of simple) {
      log(`building ${tag}`);
      const dir = await scratchContext(files, texts);
      contexts.push(dir);
      await docker.build(['--platform', platform, '--tag', tag, dir]);
    }
    log('building the stand-in base images and the relay image from the Dockerfile');
    const [runtime, build] = await Promise.all([
      buildStandInBase(docker, { kind: 'runtime', platform }),
      buildStandInBase(docker, { kind: 'build', platform }),
    ]);
    await buildRelayImage(docker, {
      tag: CLUSTER_IMAGES.relay,
      platform,
      buildImage: build.tag,
      runtimeImage: runtime.tag,
      metadata: { ...testMetadata(), version: '0.0.0-local-cluster', revision },
    });
    log(`building ${CLUSTER_IMAGES.standin}`);
    const standin = await mkdtemp(join(tmpdir(), 'tokenplace-e2e-standin-'));
    contexts.push(standin);
    for (const path of STANDIN_CONTEXT) {
      await mkdir(dirname(join(standin, path)), { recursive: true });
      await copyFile(join(repoRoot, path), join(standin, path));
    }
    await docker.build([
      '--platform',
      platform,
      '--tag',
      CLUSTER_IMAGES.standin,
      '--build-arg',
      `NODE_IMAGE=${build.tag}`,
      '--file',
      join(standin, 'ci/standin/Dockerfile'),
      standin,
    ]);
    return docker;
  } finally {
    for (const dir of contexts) await rm(dir, { recursive: true, force: true });
  }
}

/** `docker save` of every cluster image into a tarball that `ctr images import` reads. */
export async function saveClusterImages(docker: Docker, tarball: string): Promise<void> {
  await docker.run(['save', '--output', tarball, ...Object.values(CLUSTER_IMAGES)], { timeoutMs: 600_000 });
}
