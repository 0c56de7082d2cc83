import { fileURLToPath } from 'node:url';

/** The repository root: the Docker build context. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
