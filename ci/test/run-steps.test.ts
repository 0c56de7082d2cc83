import { describe, expect, it } from 'vitest';
import type { ClusterStep } from '../src/cluster/checks.ts';
import { runClusterSteps, summarizeCluster } from '../src/cluster/run.ts';
import { defaultScenario } from '../src/cluster/scenario.ts';
import { newRunId } from '../src/project.ts';
import { errorText, runStages, summarizeStages } from '../src/steps.ts';

const scenario = defaultScenario({
  chartPath: '/chart',
  examplesPath: '/examples',
  relayImage: { repository: 'r', tag: 't', pullPolicy: 'Never' },
  standinImage: 's:t',
  probeImage: 'b:t',
  runId: 'x1',
});

const fakeStep = (id: string, kind: ClusterStep['kind']): ClusterStep => ({
  id,
  title: `${id} title`,
  kind,
  body: () => `echo ${id}`,
  judge: (out) => (out.exitCode === 0 ? { ok: true, detail: `${id} fine` } : { ok: false, detail: `${id} broke` }),
});

describe('runClusterSteps', () => {
  const steps = [
    fakeStep('setup-a', 'setup'),
    fakeStep('setup-b', 'setup'),
    fakeStep('check-a', 'check'),
    fakeStep('check-b', 'check'),
  ];

  it('hands each step its full script and judges the output', async () => {
    const seen: string[] = [];
    const reports = await runClusterSteps(
      scenario,
      async (id, script) => {
        seen.push(id);
        expect(script).toContain(`echo ${id}`);
        expect(script).toContain("NS='tokenplace-e2e'");
        return { exitCode: 0, stdout: '', stderr: '' };
      },
      steps,
    );
    expect(seen).toEqual(['setup-a', 'setup-b', 'check-a', 'check-b']);
    expect(summarizeCluster(reports, 'here')).toMatch(/here: 4 passed, 0 failed, 0 skipped$/);
  });

  it('keeps running checks after a failed check, but skips everything after a failed setup step', async () => {
    const failing = new Set(['check-a']);
    const reports = await runClusterSteps(
      scenario,
      async (id) => ({ exitCode: failing.has(id) ? 1 : 0, stdout: 'out', stderr: '' }),
      steps,
    );
    expect(reports.map((r) => r.status)).toEqual(['passed', 'passed', 'failed', 'passed']);
    expect(reports[2].output).toBe('out');

    failing.clear();
    failing.add('setup-b');
    const blocked = await runClusterSteps(
      scenario,
      async (id) => ({ exitCode: failing.has(id) ? 1 : 0, stdout: '', stderr: '' }),
      steps,
    );
    expect(blocked.map((r) => r.status)).toEqual(['passed', 'failed', 'skipped', 'skipped']);
    expect(blocked[2].detail).toBe('setup step setup-b failed');
    expect(() => summarizeCluster(blocked, 'k3s')).toThrow(/k3s: 1 passed, 1 failed, 2 skipped\nfailed: setup-b\n/);
  });

  it('after a failed setup step, runs the diagnostics (nodes, events, server log) and keeps them in its output', async () => {
    const seen: string[] = [];
    const reports = await runClusterSteps(
      { ...scenario, serverLog: '/k3s-out/x1/k3s.log' },
      async (id, script) => {
        seen.push(id);
        if (id === 'diagnostics') {
          expect(script).toContain('kubectl get nodes,events -A');
          expect(script).toContain("tail -n 80 '/k3s-out/x1/k3s.log'");
          return { exitCode: 0, stdout: 'NODE e2e NotReady\n', stderr: '' };
        }
        return { exitCode: id === 'setup-b' ? 1 : 0, stdout: `${id} said`, stderr: '' };
      },
      steps,
    );
    expect(seen).toEqual(['setup-a', 'setup-b', 'diagnostics']);
    expect(reports[1].output).toBe('setup-b said\n--- diagnostics after setup-b failed\nNODE e2e NotReady');
    // No diagnostics for a failed check, and a scenario without a server log does not tail one.
    const checkFailed: string[] = [];
    await runClusterSteps(
      scenario,
      async (id, script) => {
        checkFailed.push(id);
        if (id === 'diagnostics') expect(script).not.toContain('tail -n 80');
        return { exitCode: id === 'check-a' ? 1 : 0, stdout: '', stderr: '' };
      },
      steps,
    );
    expect(checkFailed).toEqual(['setup-a', 'setup-b', 'check-a', 'check-b']);
  });

  it('turns a runner that throws into a failed step instead of a crash', async () => {
    const reports = await runClusterSteps(scenario, async () => {
      throw new Error('engine went away');
    }, [fakeStep('check-a', 'check')]);
    expect(reports[0]).toMatchObject({ status: 'failed', output: 'engine went away' });
  });
});

describe('test stages', () => {
  it("names the failed stage first and keeps the command's stderr", async () => {
    const execError = Object.assign(new Error('process "npm run lint" did not complete successfully: exit code: 1'), {
      stderr: 'relay/src/x.ts:3:1 lint/style/useConst',
      stdout: '',
    });
    const outcomes = await runStages([
      { name: 'lint', run: () => Promise.reject(execError) },
      { name: 'unit', run: async () => 'Tests 42 passed' },
    ]);
    expect(() => summarizeStages(outcomes)).toThrow(
      /^test failed at step "lint"\n[\s\S]*useConst[\s\S]*== unit: passed\nTests 42 passed\n\n1 passed, 1 failed$/,
    );
    expect(summarizeStages([outcomes[1]])).toBe('== unit: passed\nTests 42 passed\n\n1 passed, 0 failed');
  });

  it('keeps only the last lines of a long error', () => {
    const text = errorText(new Error(Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n')), 5);
    expect(text.split('\n')).toEqual(['…', 'line 95', 'line 96', 'line 97', 'line 98', 'line 99']);
    expect(errorText('plain')).toBe('plain');
  });
});

describe('newRunId', () => {
  it('is short, lower-case and differs between runs', () => {
    const a = newRunId(1_700_000_000_000, 0.1);
    expect(a).toMatch(/^[a-z0-9]{1,12}$/);
    expect(newRunId(1_700_000_000_000, 0.2)).not.toBe(a);
    expect(newRunId(0, 0)).toMatch(/^[a-z0-9]{1,12}$/);
  });
});
