/**
 * The chart as `publish` packages it, with real helm: its default image must be one the same publish
 * pushed (repository and tag), and every object must carry valid label values.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findHelm, type HelmBinary, runHelm } from '../../chart/tests/helm-binary.ts';
import { CHART_DIR, findOne, type K8sObject, KUBE_VERSION, parseManifests } from '../../chart/tests/render.ts';
import { LINT_SET_ARGS } from '../src/chart-values.ts';
import { helmPackageArgs, type ReleaseInfo, releaseInfo, withImageRepository } from '../src/release.ts';

const SHA = '0123abcdef4567890123456789abcdef01234567';
const IMAGE = 'ghcr.io/acme/tokenplace-relay';
const REFS = ['refs/heads/main', 'refs/tags/v1.2.3', 'refs/tags/v0.4.1', 'refs/tags/v2.0.0-rc.1', 'refs/tags/v1.2.3+build.7'];
// A Kubernetes label value: at most 63 characters, alphanumerics at both ends, - _ . inside.
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const work = mkdtempSync(join(tmpdir(), 'published-chart-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let helm: HelmBinary;
const packaged = new Map<string, { info: ReleaseInfo; objects: K8sObject[]; chartYaml: string }>();

beforeAll(async () => {
  helm = await findHelm(4);
  const chartYaml = readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8');
  for (const [index, ref] of REFS.entries()) {
    const info = releaseInfo(ref, SHA);
    // What publishChart hands helm: the chart with values.yaml naming the pushed repository.
    const chart = join(work, `chart-${index}`, 'tokenplace-relay');
    cpSync(CHART_DIR, chart, { recursive: true });
    writeFileSync(join(chart, 'values.yaml'), withImageRepository(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'), IMAGE));
    const out = join(work, `out-${index}`);
    const pack = await runHelm(helm, helmPackageArgs(chart, out, chartYaml, info));
    if (pack.code !== 0) throw new Error(`helm package for ${ref}:\n${pack.stderr}`);
    const [tgz] = readdirSync(out);
    const show = await runHelm(helm, ['show', 'chart', join(out, tgz)]);
    const render = await runHelm(helm, [
      'template',
      'relay',
      join(out, tgz),
      '--namespace',
      'tokenplace',
      '--kube-version',
      KUBE_VERSION,
      ...LINT_SET_ARGS,
    ]);
    if (render.code !== 0) throw new Error(`helm template of the package for ${ref}:\n${render.stderr}`);
    packaged.set(ref, { info, objects: parseManifests(render.stdout), chartYaml: show.stdout });
  }
}, 120_000);

describe.each(REFS)('the chart published for %s', (ref) => {
  const get = () => packaged.get(ref) as { info: ReleaseInfo; objects: K8sObject[]; chartYaml: string };

  it('runs, by default, an image this publish pushed: its repository and one of its tags', () => {
    const { info, objects } = get();
    const image = findOne(objects, 'Deployment').spec.template.spec.containers[0].image as string;
    const [repository, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
    expect(repository).toBe(IMAGE);
    expect(info.tags).toContain(tag);
    expect(findOne(objects, 'Pod').spec.containers[0].image).toBe(image);
  });

  it('carries valid label values on every object (app.kubernetes.io/version is the appVersion)', () => {
    const { info, objects } = get();
    for (const o of objects) {
      for (const [key, value] of Object.entries(o.metadata.labels ?? {})) {
        expect(String(value).length, `${o.kind}/${o.metadata.name} ${key}`).toBeLessThanOrEqual(63);
        expect(String(value), `${o.kind}/${o.metadata.name} ${key}`).toMatch(LABEL_VALUE);
      }
    }
    expect(findOne(objects, 'Deployment').metadata.labels['app.kubernetes.io/version']).toBe(info.appVersion);
  });

  it('has the version the pipeline reports and the appVersion the image tag comes from', () => {
    const { info, chartYaml } = get();
    expect(chartYaml).toMatch(new RegExp(`^appVersion: ${info.appVersion.replace(/\./g, '\\.')}$`, 'm'));
    expect(chartYaml).toMatch(/^version: \S+$/m);
  });
});

describe('withImageRepository', () => {
  const values = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');

  it('changes only the image.repository line', () => {
    const changed = withImageRepository(values, IMAGE);
    const before = values.split('\n');
    const after = changed.split('\n');
    expect(after.length).toBe(before.length);
    const diff = after.flatMap((line, i) => (line === before[i] ? [] : [[before[i], line]]));
    expect(diff).toEqual([['  repository: ghcr.io/tokenplace/tokenplace-relay', `  repository: ${IMAGE}`]]);
  });

  it('refuses a bad repository or a values file without the key', () => {
    expect(() => withImageRepository(values, 'Not A Repo')).toThrow(/not registry\/owner\/name/);
    expect(() => withImageRepository('image:\n  tag: ""\nreplicaCount: 1\n', IMAGE)).toThrow(/no image\.repository/);
  });
});
