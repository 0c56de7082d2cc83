/** Running the pipeline's named stages and saying plainly which one failed. */

export interface Stage {
  name: string;
  run: () => Promise<string>;
}

export interface StageOutcome {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * The text of an error from a pipeline stage. Dagger's ExecError carries the command's stderr and
 * stdout; the last lines are what a person needs.
 */
export function errorText(error: unknown, maxLines = 25): string {
  if (!(error instanceof Error)) return String(error);
  const parts = [error.message];
  const withOutput = error as Error & { stderr?: unknown; stdout?: unknown };
  for (const stream of [withOutput.stderr, withOutput.stdout]) {
    if (typeof stream === 'string' && stream.trim() !== '' && !error.message.includes(stream.trim())) parts.push(stream.trim());
  }
  const lines = parts.join('\n').split('\n');
  return lines.length > maxLines ? ['…', ...lines.slice(-maxLines)].join('\n') : lines.join('\n');
}

export async function runStage(stage: Stage): Promise<StageOutcome> {
  try {
    return { name: stage.name, ok: true, detail: (await stage.run()).trim() };
  } catch (error) {
    return { name: stage.name, ok: false, detail: errorText(error) };
  }
}

/** Runs independent stages concurrently and reports them in the given order. */
export function runStages(stages: Stage[]): Promise<StageOutcome[]> {
  return Promise.all(stages.map(runStage));
}

/** The report of a `test` run; throws an Error that names each failed stage first. */
export function summarizeStages(outcomes: StageOutcome[]): string {
  const failed = outcomes.filter((o) => !o.ok);
  const body = outcomes.map((o) => `== ${o.name}: ${o.ok ? 'passed' : 'FAILED'}\n${o.detail}`).join('\n\n');
  const line = `${outcomes.length - failed.length} passed, ${failed.length} failed`;
  if (failed.length > 0) {
    throw new Error(`test failed at step ${failed.map((o) => `"${o.name}"`).join(', ')}\n\n${body}\n\n${line}`);
  }
  return `${body}\n\n${line}`;
}
