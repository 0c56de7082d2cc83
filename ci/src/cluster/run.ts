import { CLUSTER_STEPS, type ClusterStep, diagnosticsScript, stepScript } from './checks.ts';
import type { CommandOutput } from './judge.ts';
import type { Scenario } from './scenario.ts';

/** Runs one step's script with `sh` where kubectl and helm talk to the cluster under test. */
export type ScriptRunner = (stepId: string, script: string) => Promise<CommandOutput>;

export interface StepReport {
  id: string;
  title: string;
  kind: ClusterStep['kind'];
  status: 'passed' | 'failed' | 'skipped';
  detail: string;
  seconds: number;
  /** Raw output of a failed step, for the log. */
  output?: string;
}

/**
 * Runs the steps in order and judges each. A failed setup step skips everything after it; a failed
 * check does not stop the others, so one run shows every broken property.
 */
export async function runClusterSteps(
  scenario: Scenario,
  run: ScriptRunner,
  steps: readonly ClusterStep[] = CLUSTER_STEPS,
  onReport: (report: StepReport) => void = () => {},
): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  let blockedBy: string | undefined;
  for (const step of steps) {
    if (blockedBy) {
      const report: StepReport = {
        id: step.id,
        title: step.title,
        kind: step.kind,
        status: 'skipped',
        detail: `setup step ${blockedBy} failed`,
        seconds: 0,
      };
      reports.push(report);
      onReport(report);
      continue;
    }
    const started = Date.now();
    let out: CommandOutput;
    try {
      out = await run(step.id, stepScript(step, scenario));
    } catch (error) {
      out = { exitCode: -1, stdout: '', stderr: error instanceof Error ? error.message : String(error) };
    }
    const verdict = step.judge(out, scenario);
    if (!verdict.ok && step.kind === 'setup') {
      // Nodes, events and the server log's tail: why the cluster did not come up, in the same report.
      let diagnostics: CommandOutput;
      try {
        diagnostics = await run('diagnostics', diagnosticsScript(scenario));
      } catch (error) {
        diagnostics = { exitCode: -1, stdout: '', stderr: error instanceof Error ? error.message : String(error) };
      }
      out = {
        ...out,
        stdout: `${out.stdout}\n--- diagnostics after ${step.id} failed\n${diagnostics.stdout}${diagnostics.stderr}`,
      };
    }
    const report: StepReport = {
      id: step.id,
      title: step.title,
      kind: step.kind,
      status: verdict.ok ? 'passed' : 'failed',
      detail: verdict.detail,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      ...(verdict.ok ? {} : { output: `${out.stdout}\n${out.stderr}`.trim() }),
    };
    reports.push(report);
    onReport(report);
    if (!verdict.ok && step.kind === 'setup') blockedBy = step.id;
  }
  return reports;
}

export function formatReport(report: StepReport): string {
  const mark = report.status === 'passed' ? 'PASS' : report.status === 'failed' ? 'FAIL' : 'SKIP';
  return `${mark} ${report.id} (${report.seconds}s): ${report.title} — ${report.detail}`;
}

/** A one-screen summary; throws an Error naming every failed step when one failed. */
export function summarizeCluster(reports: StepReport[], where: string): string {
  const lines = reports.map(formatReport);
  const passed = reports.filter((r) => r.status === 'passed').length;
  const failed = reports.filter((r) => r.status === 'failed');
  const skipped = reports.filter((r) => r.status === 'skipped').length;
  const summary = `${where}: ${passed} passed, ${failed.length} failed, ${skipped} skipped`;
  if (failed.length > 0) {
    throw new Error(`${summary}\nfailed: ${failed.map((r) => r.id).join(', ')}\n${lines.join('\n')}`);
  }
  return `${lines.join('\n')}\n${summary}`;
}
