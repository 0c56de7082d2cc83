import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { mustRun } from './command.ts';
import { type Docker, dockerPlatform } from './docker.ts';
import { nodeBinaryFor, pinnedNodeVersion } from './node-binaries.ts';
import { repoRoot } from './paths.ts';
import { crossLibraries, type LibraryFile, lddLibraries } from './shared-libraries.ts';

/**
 * Local stand-ins for the Dockerfile's two public base images, which cannot be pulled here.
 * - runtime: like gcr.io/distroless/nodejs24-debian12:nonroot: the pinned Node 24 at /nodejs/bin/node,
 *   the shared libraries it loads, /etc/passwd with nonroot (65532), a world-writable /tmp, no shell,
 *   no package manager; USER 65532:65532 and ENTRYPOINT ["/nodejs/bin/node"]. Any platform: another
 *   architecture's libraries come from Debian's cross packages.
 * - build: like node:24-bookworm-slim: Node 24 at /usr/local/bin/node, this machine's npm, /bin/sh and
 *   /usr/bin/env, running as root. Build platform only (the Dockerfile compiles there). It carries this
 *   machine's npm registry and CA bundle, so `npm ci` inside `docker build` reaches the same registry.
 */
export type StandInKind = 'runtime' | 'build';

export interface StandInOptions {
  kind: StandInKind;
  platform?: 'linux/amd64' | 'linux/arm64';
  /** Image name; defaults to tokenplace-relay-stand-in-<kind>:<node version>-<arch>. */
  tag?: string;
}

export interface StandInBase {
  tag: string;
  platform: string;
  /** True when an image with the same inputs already existed and was kept. */
  reused: boolean;
}

export const NONROOT_UID = 65532;
const FINGERPRINT_LABEL = 'tokenplace-relay.stand-in.fingerprint';

type Entry =
  | { kind: 'file'; target: string; source: string; mode?: number }
  | { kind: 'tree'; target: string; source: string; version: string }
  | { kind: 'text'; target: string; text: string }
  | { kind: 'symlink'; target: string; to: string }
  | { kind: 'dir'; target: string; mode: number };

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/home/nonroot:/sbin/nologin\n`;
const GROUP = `root:x:0:\nnobody:x:65534:\nnonroot:x:${NONROOT_UID}:\n`;

function libraryEntries(files: LibraryFile[]): Entry[] {
  return files.map((file) => ({ kind: 'file', source: file.source, target: file.target }));
}

function commonEntries(): Entry[] {
  return [
    { kind: 'text', target: '/etc/passwd', text: PASSWD },
    { kind: 'text', target: '/etc/group', text: GROUP },
    { kind: 'text', target: '/etc/nsswitch.conf', text: 'passwd: files\ngroup: files\nhosts: files dns\n' },
    { kind: 'dir', target: '/tmp', mode: 0o1777 },
  ];
}

async function npmSetting(name: string): Promise<string | undefined> {
  const value = (await mustRun('npm', ['config', 'get', name], { cwd: repoRoot })).trim();
  return value && value !== 'null' && value !== 'undefined' ? value : undefined;
}

/** The npm package running the tests (npm sets npm_execpath), else the global one. */
async function npmPackageDir(): Promise<string> {
  const execPath = process.env.npm_execpath;
  if (execPath && existsSync(execPath)) {
    const dir = resolve(dirname(execPath), '..');
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return join((await mustRun('npm', ['root', '--global'])).trim(), 'npm');
}

async function runtimeLayout(platform: string, native: boolean): Promise<{ entries: Entry[]; config: string[] }> {
  const node = await nodeBinaryFor(platform);
  const libraries = native ? await lddLibraries(node) : await crossLibraries(node, platform);
  const entries: Entry[] = [
    { kind: 'file', source: node, target: '/nodejs/bin/node', mode: 0o755 },
    ...libraryEntries(libraries),
    ...commonEntries(),
  ];
  return {
    entries,
    config: [`USER ${NONROOT_UID}:${NONROOT_UID}`, 'WORKDIR /home/nonroot', 'ENTRYPOINT ["/nodejs/bin/node"]'],
  };
}

async function buildLayout(platform: string): Promise<{ entries: Entry[]; config: string[] }> {
  const node = await nodeBinaryFor(platform);
  const npmDir = await npmPackageDir();
  const npmVersion = (JSON.parse(readFileSync(join(npmDir, 'package.json'), 'utf8')) as { version: string }).version;
  const shell = (await mustRun('readlink', ['-f', '/bin/sh'])).trim();
  const env = (await mustRun('readlink', ['-f', '/usr/bin/env'])).trim();
  const libraries = new Map<string, LibraryFile>();
  for (const binary of [node, shell, env]) for (const file of await lddLibraries(binary)) libraries.set(file.target, file);

  const entries: Entry[] = [
    { kind: 'file', source: node, target: '/usr/local/bin/node', mode: 0o755 },
    { kind: 'tree', source: npmDir, target: '/usr/local/lib/node_modules/npm', version: npmVersion },
    { kind: 'symlink', target: '/usr/local/bin/npm', to: '../lib/node_modules/npm/bin/npm-cli.js' },
    { kind: 'symlink', target: '/usr/local/bin/npx', to: '../lib/node_modules/npm/bin/npx-cli.js' },
    { kind: 'file', source: shell, target: '/bin/sh', mode: 0o755 },
    { kind: 'file', source: env, target: '/usr/bin/env', mode: 0o755 },
    { kind: 'dir', target: '/root', mode: 0o700 },
    ...libraryEntries([...libraries.values()]),
    ...commonEntries(),
  ];
  const config = [
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root',
    'WORKDIR /',
    'CMD ["node"]',
  ];

  const registry = await npmSetting('registry');
  if (registry) config.push(`ENV npm_config_registry=${registry}`);
  const cafile = (await npmSetting('cafile')) ?? '/etc/ssl/certs/ca-certificates.crt';
  if (existsSync(cafile)) {
    entries.push({ kind: 'file', source: cafile, target: '/etc/ssl/certs/ca-certificates.crt' });
    config.push('ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt');
  }
  return { entries, config };
}

function fingerprint(platform: string, entries: Entry[], dockerfile: string): string {
  const hash = createHash('sha256').update(`${platform}\n${dockerfile}\n`);
  for (const entry of entries) {
    hash.update(`${entry.kind} ${entry.target}\n`);
    if (entry.kind === 'file') {
      const stat = statSync(entry.source);
      hash.update(`${entry.source} ${stat.size} ${stat.mtimeMs} ${entry.mode ?? ''}\n`);
    } else if (entry.kind === 'tree') hash.update(`${entry.source} ${entry.version}\n`);
    else if (entry.kind === 'text') hash.update(entry.text);
    else if (entry.kind === 'symlink') hash.update(entry.to);
    else hash.update(String(entry.mode));
  }
  return hash.digest('hex');
}

function assemble(rootfs: string, entries: Entry[]): void {
  for (const entry of entries) {
    const path = join(rootfs, entry.target);
    mkdirSync(dirname(path), { recursive: true });
    if (entry.kind === 'file') {
      copyFileSync(entry.source, path);
      chmodSync(path, entry.mode ?? statSync(entry.source).mode & 0o7777);
    } else if (entry.kind === 'tree') cpSync(entry.source, path, { recursive: true, verbatimSymlinks: true });
    else if (entry.kind === 'text') writeFileSync(path, entry.text, { mode: 0o644 });
    else if (entry.kind === 'symlink') symlinkSync(entry.to, path);
    else {
      mkdirSync(path, { recursive: true });
      chmodSync(path, entry.mode);
    }
  }
}

/** Builds (or keeps, when its inputs are unchanged) a stand-in base image; see the module comment. */
export async function buildStandInBase(docker: Docker, options: StandInOptions): Promise<StandInBase> {
  const hostPlatform = dockerPlatform();
  const platform = options.platform ?? hostPlatform;
  const native = platform === hostPlatform;
  if (options.kind === 'build' && !native)
    throw new Error(`a build stand-in runs on the build platform (${hostPlatform}), not ${platform}`);
  const tag = options.tag ?? `tokenplace-relay-stand-in-${options.kind}:${pinnedNodeVersion()}-${platform.split('/')[1]}`;

  const { entries, config } = options.kind === 'runtime' ? await runtimeLayout(platform, native) : await buildLayout(platform);
  const home = options.kind === 'runtime' ? `COPY --chown=${NONROOT_UID}:${NONROOT_UID} home/ /home/\n` : '';
  const body = `FROM scratch\nCOPY rootfs/ /\n${home}${config.join('\n')}\n`;
  const print = fingerprint(platform, entries, body);
  const dockerfile = `${body}LABEL ${FINGERPRINT_LABEL}=${print}\n`;

  if (await docker.imageExists(tag)) {
    const image = await docker.inspect<{ Config: { Labels?: Record<string, string> } }>('image', tag);
    if (image.Config.Labels?.[FINGERPRINT_LABEL] === print) return { tag, platform, reused: true };
  }

  const context = mkdtempSync(join(tmpdir(), 'tokenplace-relay-stand-in-'));
  try {
    assemble(join(context, 'rootfs'), entries);
    mkdirSync(join(context, 'home', 'nonroot'), { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
    await docker.build(['--platform', platform, '--tag', tag, '--file', join(context, 'Dockerfile'), context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  return { tag, platform, reused: false };
}
