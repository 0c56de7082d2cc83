/**
 * The Dockerfile against the chart, the relay's defaults and the pipeline: ports, the GPU host's name,
 * and the build args each caller passes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../../chart/tests/helm-binary.ts';
import { SETTINGS } from '../../relay/src/config.ts';
import type { Docker } from '../../relay/test/container/docker.ts';
import { buildRelayImage } from '../../relay/test/container/relay-image.ts';
import { type Exec, runKindE2e } from '../kind/kind.ts';
import { defaultScenario } from '../src/cluster/scenario.ts';
import { IMAGES } from '../src/images.ts';
import { CONTRACT } from '../src/project.ts';
import { expectedLabels, imageBuildArgs, releaseInfo } from '../src/release.ts';
import { args, instructions, keyValues, lastStage, substitute } from './dockerfile.ts';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const dockerfile = instructions(read('Dockerfile'));
const runtime = lastStage(dockerfile);
const standin = instructions(read('ci/standin/Dockerfile'));
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML.
const values = parseYaml(read('chart/values.yaml')) as any;

const exposed = (all: ReturnType<typeof instructions>, stage: number) =>
  all
    .filter((i) => i.keyword === 'EXPOSE' && i.stage === stage)
    .flatMap((i) => i.rest.split(/\s+/))
    .map((port) => Number(port.replace(/\/tcp$/, '')));

describe('ports and the GPU host name', () => {
  it("the relay's own defaults", () => {
    expect(SETTINGS.port.fallback).toBe(CONTRACT.relayPort);
    // Forwarding is off by default; the chart turns it on with the gpu-server Service's URL.
    expect(SETTINGS.upstreamUrl.fallback).toBe('');
    expect(SETTINGS.gpuPort.fallback).toBe(CONTRACT.gpuPort);
  });

  it('the image: ENV RELAY_PORT and EXPOSE', () => {
    expect(keyValues(dockerfile, 'ENV', runtime).RELAY_PORT).toBe(String(CONTRACT.relayPort));
    expect(exposed(dockerfile, runtime)).toEqual([CONTRACT.relayPort]);
  });

  it("the chart's values: container port, Service port, GPU port and name", () => {
    expect(values.env.port).toBe(CONTRACT.relayPort);
    expect(values.service.port).toBe(CONTRACT.servicePort);
    expect(values.gpuExternalName.port).toBe(CONTRACT.gpuPort);
    expect(values.gpuExternalName.name).toBe(CONTRACT.gpuServiceName);
  });

  it('the stand-in GPU server image', () => {
    const stage = lastStage(standin);
    expect(keyValues(standin, 'ENV', stage).STANDIN_PORT).toBe(String(CONTRACT.gpuPort));
    expect(exposed(standin, stage)).toEqual([CONTRACT.gpuPort]);
  });

  it('the cluster checks', () => {
    const s = defaultScenario({
      chartPath: 'chart',
      examplesPath: 'docs/examples',
      relayImage: { repository: 'r', tag: 't', pullPolicy: 'IfNotPresent' },
      standinImage: 's:t',
      probeImage: IMAGES.busybox,
      runId: 'r1',
    });
    expect([s.relayPort, s.gpuPort, s.gpuServiceName]).toEqual([CONTRACT.relayPort, CONTRACT.gpuPort, CONTRACT.gpuServiceName]);
  });
});

describe('build args', () => {
  const globals = args(dockerfile, -1);
  const stageArgs = args(dockerfile, runtime);
  const info = releaseInfo('refs/tags/v1.2.3', '0123456789abcdef0123456789abcdef01234567');
  const created = '2026-11-23T10:00:00Z';

  it('the base images are global ARGs, pinned by digest, and every FROM uses one or a stage', () => {
    expect([...globals.keys()].sort()).toEqual(['BUILD_IMAGE', 'RUNTIME_IMAGE']);
    for (const [name, value] of globals) expect(value, name).toMatch(/@sha256:[0-9a-f]{64}$/);
    const stages = dockerfile.filter((i) => i.keyword === 'FROM');
    for (const from of stages) expect(from.rest).toMatch(/\$\{(BUILD_IMAGE|RUNTIME_IMAGE)\}/);
  });

  it("the build image is the pipeline's pinned Node image", () => {
    const normalize = (ref: string) => ref.replace(/^docker\.io\/library\//, '');
    expect(normalize(globals.get('BUILD_IMAGE') ?? '')).toBe(normalize(IMAGES.node));
  });

  it("the pipeline passes exactly the runtime stage's ARGs, and they fill the labels it expects", () => {
    const inputs = { info, created, source: 'https://github.com/acme/tokenplace-relay' };
    const passed = imageBuildArgs(inputs);
    expect(passed.map((a) => a.name).sort()).toEqual([...stageArgs.keys()].sort());
    const labels = keyValues(dockerfile, 'LABEL', runtime);
    const argValues = Object.fromEntries(passed.map((a) => [a.name, a.value]));
    const built = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, substitute(v, argValues)]));
    expect(built).toMatchObject(expectedLabels(inputs));
    expect(substitute(keyValues(dockerfile, 'ENV', runtime).TOKENPLACE_RELAY_VERSION, argValues)).toBe(info.version);
  });

  it('without a source URL the Dockerfile default stays and no source label is expected', () => {
    const inputs = { info, created, source: '' };
    const argValues: Record<string, string | undefined> = Object.fromEntries(stageArgs);
    for (const a of imageBuildArgs(inputs)) argValues[a.name] = a.value;
    const labels = keyValues(dockerfile, 'LABEL', runtime);
    const built = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, substitute(v, argValues)]));
    expect(built).toMatchObject(expectedLabels(inputs));
  });

  it('the container tests build with declared ARGs only (base images and labels)', async () => {
    let passed: string[] = [];
    const docker = {
      build: async (a: readonly string[]) => {
        passed = [...a];
        return '';
      },
    } as unknown as Docker;
    await buildRelayImage(docker, {
      tag: 't',
      platform: 'linux/amd64',
      buildImage: 'b',
      runtimeImage: 'r',
      metadata: { version: 'v', revision: 'r', created, source: 's' },
    });
    const names = passed.flatMap((arg, i) => (passed[i - 1] === '--build-arg' ? [arg.split('=')[0]] : []));
    const proxy = /^(HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/;
    expect(names.filter((n) => !proxy.test(n)).sort()).toEqual([...globals.keys(), ...stageArgs.keys()].sort());
  });

  it('the kind path builds with declared ARGs only', async () => {
    const calls: string[][] = [];
    const exec: Exec = async (command, a) => {
      calls.push([command, ...a]);
      if (command === 'kind' && a[0] === 'version') return { exitCode: 0, stdout: 'kind v0.31.0', stderr: '' };
      return { exitCode: command === 'sh' ? 1 : 0, stdout: '', stderr: '' };
    };
    const files = { writeFile: async () => {}, copyFile: async () => {} };
    await runKindE2e(
      { repoRoot: '/repo', runId: 'r1', keepCluster: false, workDir: '/tmp/w', revision: 'abc' },
      exec,
      files,
      () => {},
      [],
    ).catch(() => undefined);
    const build = calls.find((c) => c[0] === 'docker' && c[1] === 'build' && c.includes('tokenplace-relay:kind-r1'));
    if (!build) throw new Error('the kind path ran no docker build of the relay');
    const names = build.flatMap((arg, i) => (build[i - 1] === '--build-arg' ? [arg.split('=')[0]] : []));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(stageArgs.has(name) || globals.has(name), name).toBe(true);
  });
});
