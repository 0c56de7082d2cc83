import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CGROUP_ENTRYPOINT, k3sKubeconfigPath, k3sLogPath, k3sServerArgs, registriesYaml } from '../src/k3s-setup.ts';

const scratch = mkdtempSync(join(tmpdir(), 'k3s-entry-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The entry point against a fake cgroup v2 root (plain files), then `echo started`. */
function entrypoint(controllers: string, procs = '1\n7\n') {
  const cg = mkdtempSync(join(scratch, 'cg-'));
  writeFileSync(join(cg, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(join(cg, 'cgroup.procs'), procs);
  writeFileSync(join(cg, 'cgroup.subtree_control'), '');
  const out = join(scratch, 'out', 'run1');
  const result = spawnSync('dash', ['-c', CGROUP_ENTRYPOINT, 'entry', 'echo', 'started'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, CGROUP_ROOT: cg, E2E_OUT_DIR: out },
  });
  return { ...result, cg, out };
}

describe('the k3s entry point', () => {
  it('moves the root group into init/, delegates every controller and then runs k3s', () => {
    const run = entrypoint('cpuset cpu io memory pids');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('started\n');
    expect(readFileSync(join(run.cg, 'cgroup.subtree_control'), 'utf8')).toBe('+cpuset +cpu +io +memory +pids\n');
    // A plain file keeps the last pid written; the kernel's cgroup.procs takes each.
    expect(readFileSync(join(run.cg, 'init', 'cgroup.procs'), 'utf8')).toBe('7\n');
    expect(run.stderr).toContain('cgroup v2: delegated +cpuset +cpu +io +memory +pids');
    mkdirSync(run.out, { recursive: true }); // created by the entry point already; this only must not throw
  });

  it('stops with the controllers printed when cpu or memory cannot be delegated', () => {
    const run = entrypoint('cpuset io pids');
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("cgroup v2: controller 'cpu' is not delegated");
    expect(run.stderr).toContain('cgroup.controllers: cpuset io pids');
  });

  it('hides no failed write', () => {
    expect(CGROUP_ENTRYPOINT).not.toContain('|| true');
    expect(CGROUP_ENTRYPOINT).toMatch(/could not move pid/);
  });
});

describe('k3s server', () => {
  it('writes its kubeconfig and its log where the tool box reads them, per run', () => {
    const args = k3sServerArgs('abc1');
    expect(args.slice(0, 2)).toEqual(['k3s', 'server']);
    expect(args).toContain(`--write-kubeconfig=${k3sKubeconfigPath('abc1')}`);
    expect(args).toContain(`--log=${k3sLogPath('abc1')}`);
    expect(args).toContain('--alsologtostderr');
    expect(args).toContain('--disable=traefik');
    expect(k3sLogPath('abc1')).toBe('/k3s-out/abc1/k3s.log');
  });

  it('pulls the in-pipeline registry over plain HTTP, and docker.io through the pull-through cache', () => {
    expect(registriesYaml()).toBe(
      'mirrors:\n  "registry:5000":\n    endpoint:\n      - "http://registry:5000"\n  "docker.io":\n    endpoint:\n      - "http://hub-mirror:5000"\n',
    );
  });

  it('binds the mirror and pushes busybox for the probe pods (no Docker Hub pull by k3s in a run)', () => {
    const k3s = readFileSync('ci/src/k3s.ts', 'utf8');
    expect(k3s).toContain(".withEnvVariable('REGISTRY_PROXY_REMOTEURL', DOCKER_HUB_URL)");
    expect(k3s).toContain(".withMountedCache('/var/lib/registry', dag.cacheVolume('tokenplace-relay-dockerhub-mirror'))");
    expect(k3s).toContain(".withServiceBinding(HUB_MIRROR_HOST.split(':')[0], hubMirrorService())");
    const index = readFileSync('ci/src/index.ts', 'utf8');
    expect(index).toMatch(/pushToRegistry\(registry, dag\.container\(\)\.from\(IMAGES\.busybox\)\.asTarball\(\), 'busybox'/);
    expect(index).toContain('probeImage: probeRef,');
  });
});
