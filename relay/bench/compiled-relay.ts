import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execEntrypoint } from '../../ci/test/dockerfile.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Node's flags as the image's ENTRYPOINT passes them, so the relay is measured as it runs in the pod. */
export const IMAGE_NODE_FLAGS = execEntrypoint(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')).filter((arg) =>
  arg.startsWith('--'),
);

/** The compiled entry point that buildRelay writes. */
export const COMPILED_MAIN = join(repoRoot, 'dist/relay/node/main.js');

/** Compiles the relay to JavaScript as the image runs it, not through Node's type stripping. */
export function buildRelay(): void {
  execFileSync(
    process.execPath,
    [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'tsconfig.build.json')],
    {
      stdio: 'inherit',
    },
  );
}
