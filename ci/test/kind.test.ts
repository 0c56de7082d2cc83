import { describe, expect, it } from 'vitest';
import { atLeast, clusterName, type Exec, kindClusterConfig, parseKindVersion, runKindE2e, splitImage } from '../kind/kind.ts';
import type { CommandOutput } from '../src/cluster/judge.ts';
import { IMAGES } from '../src/images.ts';

interface Call {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/**
 * A recorded stand-in for docker, kind, kubectl and helm (none can run here). Step scripts (`sh -c`)
 * answer from `scripts`, keyed by the step id found in the script's header comment.
 */
function fakeExec(answers: { kindVersion?: string; failCommand?: string; scripts?: (id: string) => CommandOutput }) {
  const calls: Call[] = [];
  const exec: Exec = async (command, args, options) => {
    calls.push({ command, args, env: options?.env });
    const line = `${command} ${args.join(' ')}`;
    if (answers.failCommand && line.startsWith(answers.failCommand))
      return { exitCode: 1, stdout: '', stderr: `${command} exploded` };
    if (command === 'kind' && args[0] === 'version')
      return { exitCode: 0, stdout: answers.kindVersion ?? 'kind v0.31.0 go1.25.1 linux/amd64\n', stderr: '' };
    if (command === 'sh') {
      const id = /^# --- ([a-z-]+):/m.exec(args[1])?.[1] ?? '?';
      return answers.scripts?.(id) ?? { exitCode: 1, stdout: '', stderr: 'no answer' };
    }
    return { exitCode: 0, stdout: '', stderr: '' };
  };
  return { exec, calls };
}

const options = { repoRoot: '/repo', runId: 'r1', keepCluster: false, workDir: '/tmp/w', revision: 'abc' };
const files = () => {
  const written = new Map<string, string>();
  const copied: string[] = [];
  return {
    written,
    copied,
    fs: {
      writeFile: async (p: string, c: string) => void written.set(p, c),
      copyFile: async (_from: string, to: string) => void copied.push(to),
    },
  };
};

describe('kind path', () => {
  it('creates the cluster, loads both images, runs every step with its own kubeconfig, then deletes the cluster', async () => {
    const { exec, calls } = fakeExec({ scripts: () => ({ exitCode: 1, stdout: '', stderr: 'judged elsewhere' }) });
    const f = files();
    await expect(runKindE2e(options, exec, f.fs, () => {}, ['ci/standin/Dockerfile'])).rejects.toThrow(
      /e2e on kind \(tokenplace-e2e-r1\): 0 passed, 1 failed, 11 skipped\nfailed: cluster-ready/,
    );
    const lines = calls.map((c) => `${c.command} ${c.args.join(' ')}`);
    expect(lines.slice(0, 4)).toEqual([
      'kind version',
      'kubectl version --client',
      'helm version --short',
      'docker version --format {{.Server.Version}}',
    ]);
    expect(lines).toContain('docker build --tag tokenplace-relay:kind-r1 --build-arg REVISION=abc .');
    expect(lines).toContain(
      'docker build --tag gpu-standin:kind-r1 --file /tmp/w/standin-context/ci/standin/Dockerfile /tmp/w/standin-context',
    );
    expect(lines).toContain(
      'kind create cluster --name tokenplace-e2e-r1 --config /tmp/w/kind.json --kubeconfig /tmp/w/kubeconfig --wait 180s',
    );
    expect(lines).toContain('kind load docker-image --name tokenplace-e2e-r1 tokenplace-relay:kind-r1 gpu-standin:kind-r1');
    expect(calls.find((c) => c.command === 'sh')?.env).toEqual({ KUBECONFIG: '/tmp/w/kubeconfig' });
    expect(lines.at(-1)).toBe('kind delete cluster --name tokenplace-e2e-r1 --kubeconfig /tmp/w/kubeconfig');
    expect(JSON.parse(f.written.get('/tmp/w/kind.json') ?? '{}')).toEqual(kindClusterConfig());
    expect(f.copied).toEqual(['/tmp/w/standin-context/ci/standin/Dockerfile']);
  });

  it('returns the summary when every step passes, and still deletes the cluster', async () => {
    const { exec, calls } = fakeExec({ scripts: () => ({ exitCode: 0, stdout: 'fine', stderr: '' }) });
    const step = {
      id: 'only',
      title: 'one step',
      kind: 'check' as const,
      body: () => 'true',
      judge: () => ({ ok: true, detail: 'good' }),
    };
    const { reports, summary } = await runKindE2e(options, exec, files().fs, () => {}, [], [step]);
    expect(reports.map((r) => r.status)).toEqual(['passed']);
    expect(summary).toMatch(/PASS only .*one step — good\ne2e on kind \(tokenplace-e2e-r1\): 1 passed, 0 failed, 0 skipped$/);
    expect(calls.at(-1)?.args.slice(0, 2)).toEqual(['delete', 'cluster']);
  });

  it('deletes the cluster even when loading the images fails, unless asked to keep it', async () => {
    const failing = fakeExec({ failCommand: 'kind load' });
    await expect(runKindE2e(options, failing.exec, files().fs, () => {}, [])).rejects.toThrow(
      /kind load docker-image failed.*kind exploded/s,
    );
    expect(failing.calls.at(-1)?.args.slice(0, 2)).toEqual(['delete', 'cluster']);

    const kept = fakeExec({ failCommand: 'kind load' });
    const log: string[] = [];
    await expect(runKindE2e({ ...options, keepCluster: true }, kept.exec, files().fs, (l) => log.push(l), [])).rejects.toThrow();
    expect(kept.calls.some((c) => c.args[0] === 'delete')).toBe(false);
    expect(log.at(-1)).toMatch(/keeping cluster tokenplace-e2e-r1/);
  });

  it('refuses a kind that does not enforce NetworkPolicy, before creating anything', async () => {
    const { exec, calls } = fakeExec({ kindVersion: 'kind v0.23.0 go1.21.10 linux/amd64' });
    await expect(runKindE2e(options, exec, files().fs, () => {}, [])).rejects.toThrow(
      'kind v0.23.0 does not enforce NetworkPolicy; install kind v0.24.0 or newer',
    );
    expect(calls).toHaveLength(1);
  });

  it('names a missing tool', async () => {
    const { exec } = fakeExec({ failCommand: 'helm' });
    await expect(runKindE2e(options, exec, files().fs, () => {}, [])).rejects.toThrow(
      /^helm \(is it installed and working\?\) failed/,
    );
  });

  it('tests a given local image without building one', async () => {
    const { exec, calls } = fakeExec({});
    await expect(runKindE2e({ ...options, relayImage: 'mine:dev' }, exec, files().fs, () => {}, [])).rejects.toThrow();
    expect(calls.some((c) => c.command === 'docker' && c.args.includes('mine:dev'))).toBe(false);
    expect(calls.find((c) => c.args[0] === 'load')?.args).toContain('mine:dev');
  });
});

describe('kind helpers', () => {
  it('reads and compares kind versions', () => {
    expect(parseKindVersion('kind v0.24.0 go1.22.6 linux/amd64')).toEqual([0, 24, 0]);
    expect(() => parseKindVersion('command not found')).toThrow(/cannot read a version/);
    expect(atLeast([0, 24, 0], [0, 24, 0])).toBe(true);
    expect(atLeast([1, 0, 0], [0, 24, 0])).toBe(true);
    expect(atLeast([0, 23, 9], [0, 24, 0])).toBe(false);
  });

  it('keeps the default CNI (kindnetd enforces NetworkPolicy) and pins the node image', () => {
    const config = kindClusterConfig() as { networking: { disableDefaultCNI: boolean }; nodes: { image: string }[] };
    expect(config.networking.disableDefaultCNI).toBe(false);
    expect(config.nodes[0].image).toBe(IMAGES.kindNode);
    expect(clusterName('abc')).toBe('tokenplace-e2e-abc');
  });

  it('wants a tagged image', () => {
    expect(splitImage('localhost:5000/relay:dev')).toEqual(['localhost:5000/relay', 'dev']);
    expect(() => splitImage('localhost:5000/relay')).toThrow(/explicit tag/);
    expect(() => splitImage('relay')).toThrow(/explicit tag/);
  });
});
