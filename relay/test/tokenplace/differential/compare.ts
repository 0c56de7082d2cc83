import type { Observation } from './run.ts';
import { diffShapes, pathWithin } from './shape.ts';

/** One way one step's answer differs between relay.py (the reference) and ours. */
export interface Difference {
  step: string;
  /** `status`, a JSON path of the body's shape (`$.error.code`), `value $.status`, or `header <name>`. */
  where: string;
  reference: string;
  ours: string;
}

/** A difference we know about and keep on purpose, with the reason. */
export interface AllowedDifference {
  step: string;
  /** Each covers that place and everything inside it: `$` covers the whole body, `$.error` all of the error. */
  where: string[];
  why: string;
}

export function compareRuns(reference: Observation[], ours: Observation[]): Difference[] {
  if (reference.length !== ours.length) throw new Error(`runs differ in length: ${reference.length} vs ${ours.length}`);
  return reference.flatMap((left, index) => compareStep(left, ours[index]));
}

function compareStep(reference: Observation, ours: Observation): Difference[] {
  if (reference.step !== ours.step) throw new Error(`runs out of step: ${reference.step} vs ${ours.step}`);
  const step = reference.step;
  const differences: Difference[] = [];
  if (reference.status !== ours.status) {
    differences.push({ step, where: 'status', reference: String(reference.status), ours: String(ours.status) });
  }
  for (const shape of diffShapes(reference.shape, ours.shape)) differences.push({ step, ...shape });
  for (const [path, value] of Object.entries(reference.values)) {
    if (value !== ours.values[path])
      differences.push({ step, where: `value ${path}`, reference: value, ours: ours.values[path] });
  }
  for (const [name, value] of Object.entries(reference.headers)) {
    if (value !== ours.headers[name])
      differences.push({ step, where: `header ${name}`, reference: value, ours: ours.headers[name] });
  }
  return differences;
}

export function isAllowed(difference: Difference, allowlist: AllowedDifference[]): boolean {
  return allowlist.some(
    (entry) => entry.step === difference.step && entry.where.some((where) => pathWithin(difference.where, where)),
  );
}

/** Each allowed place (step and `where`) that no difference falls in: an allowance that describes nothing any more. */
export function staleAllowances(differences: Difference[], allowlist: AllowedDifference[]): string[] {
  return allowlist.flatMap((entry) =>
    entry.where
      .filter((where) => !differences.some((d) => d.step === entry.step && pathWithin(d.where, where)))
      .map((where) => `${entry.step}: ${where}`),
  );
}

const BODY_PREVIEW = 240;

/** Every difference grouped by step, with both bodies (cut short) so a failure reads without rerunning anything. */
export function formatDifferences(differences: Difference[], reference: Observation[], ours: Observation[]): string {
  const steps = [...new Set(differences.map((difference) => difference.step))];
  return steps
    .map((step) => {
      const left = reference.find((observation) => observation.step === step);
      const right = ours.find((observation) => observation.step === step);
      const lines = differences
        .filter((difference) => difference.step === step)
        .map((difference) => `    ${difference.where}: relay.py ${difference.reference} | ours ${difference.ours}`);
      return [
        `step "${step}" (${left?.request})`,
        ...lines,
        `    relay.py answered ${left?.status}: ${preview(left?.body)}`,
        `    ours answered ${right?.status}: ${preview(right?.body)}`,
      ].join('\n');
    })
    .join('\n');
}

function preview(body: string | undefined): string {
  const flat = (body ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > BODY_PREVIEW ? `${flat.slice(0, BODY_PREVIEW)}…` : flat || '(empty)';
}
