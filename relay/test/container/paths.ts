import { fileURLToPath } from 'node:url';

/** The repository root: the Docker build context. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** How the image starts the relay: Node as PID 1 with the young-generation cap, then the compiled entry point. */
export const RELAY_ENTRYPOINT = ['/nodejs/bin/node', '--max-semi-space-size=8', 'dist/relay/node/main.js'];
