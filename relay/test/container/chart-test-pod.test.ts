/**
 * No engine needed: how the container tests run the chart's `helm test` pod against the image. The
 * run itself is in image.test.ts (it needs Docker).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { execEntrypoint } from '../../../ci/test/dockerfile.ts';
import { renderTestPod, splitImageTag, testPodRun } from './chart-test-pod.ts';
import { CHART_LIKE_RUN_FLAGS } from './containers.ts';
import { repoRoot } from './paths.ts';

describe("the chart's helm test pod as a docker run", () => {
  it('runs the rendered command as the entry point, with the hardening the chart renders', async () => {
    const pod = await renderTestPod('tokenplace-relay:container-test-amd64');
    const run = testPodRun(pod, { RELAY_URL: 'http://relay:5010' });
    expect(run.image).toBe('tokenplace-relay:container-test-amd64');
    expect(run.options).toEqual([
      '--user',
      '65532:65532',
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--env',
      'RELAY_URL=http://relay:5010',
      '--env',
      'RETRY_SECONDS=30',
      '--entrypoint',
      '/nodejs/bin/node',
    ]);
    for (const flag of CHART_LIKE_RUN_FLAGS) expect(run.options).toContain(flag);
    expect(run.args.slice(0, 2)).toEqual(['--input-type=module', '-e']);
  });

  it("uses the executable of the image's own entry point (the image has no node on PATH)", async () => {
    const entrypoint = execEntrypoint(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
    const run = testPodRun(await renderTestPod('tokenplace-relay:t'));
    expect(run.options.at(-1)).toBe(entrypoint[0]);
  });

  it('splits image references', () => {
    expect(splitImageTag('registry:5000/tokenplace-relay:e2e-1')).toEqual(['registry:5000/tokenplace-relay', 'e2e-1']);
    expect(() => splitImageTag('registry:5000/tokenplace-relay')).toThrow(/has no tag/);
  });
});
