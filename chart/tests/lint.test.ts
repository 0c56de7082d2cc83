import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { findHelm, type HelmMajor, runHelm } from './helm-binary.ts';
import { CHART_DIR, EXAMPLES_DIR, HTTP_UPSTREAM_VALUES, helmLint, type RenderCase } from './render.ts';

const EXAMPLE_FILES = [
  'relay-family.values.yaml',
  'relay-personal.values.yaml',
  'tokenplace-relay.values.dev.yaml',
  'tokenplace-relay.values.staging.yaml',
];

const LINT_CASES: Array<[string, RenderCase]> = [
  ['the defaults alone (token.place compute nodes only)', {}],
  ['the defaults with the HTTP upstream and what it requires', { values: [HTTP_UPSTREAM_VALUES] }],
  ...EXAMPLE_FILES.map((file): [string, RenderCase] => [file, { exampleFiles: [file] }]),
];

describe('docs/examples', () => {
  it('holds exactly the four example values files, all linted below', async () => {
    const files = (await readdir(EXAMPLES_DIR)).filter((f) => f.endsWith('.yaml')).sort();
    expect(files).toEqual(EXAMPLE_FILES);
  });
});

for (const major of [4, 3] as HelmMajor[]) {
  describe(`helm lint --strict under Helm ${major}`, () => {
    it.each(LINT_CASES)('%s', async (_name, spec) => {
      const helm = await findHelm(major);
      const result = await helmLint(helm, spec);
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(result.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      expect(result.code).toBe(0);
    });

    it('fails on the HTTP upstream switched on without its GPU host, naming it', async () => {
      const result = await helmLint(await findHelm(major), { values: [{ env: { upstream: { enabled: true } } }] });
      expect(result.code).not.toBe(0);
      expect(`${result.stdout}${result.stderr}`).toMatch(/gpuExternalName[./]host/);
    });
  });
}

describe('helm package', () => {
  it("packs the templates and the helm test, but not the chart's own TypeScript tests", async () => {
    const out = await mkdtemp(join(tmpdir(), 'relay-chart-package-'));
    try {
      const result = await runHelm(await findHelm(4), ['package', CHART_DIR, '--destination', out]);
      expect(result.code, result.stderr).toBe(0);
      const [archive] = await readdir(out);
      expect(archive).toMatch(/^tokenplace-relay-\d+\.\d+\.\d+\.tgz$/);
      const { stdout } = await promisify(execFile)('tar', ['-tzf', join(out, archive)]);
      const files = stdout.trim().split('\n');
      expect(files).toContain('tokenplace-relay/values.schema.json');
      expect(files).toContain('tokenplace-relay/README.md');
      expect(files).toContain('tokenplace-relay/templates/tests/test-connection.yaml');
      expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
