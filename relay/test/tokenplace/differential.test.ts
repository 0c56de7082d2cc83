import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RelayProcess, startRelay, stopAllRelays } from '../helpers/relay-process.ts';
import {
  type AllowedDifference,
  compareRuns,
  type Difference,
  formatDifferences,
  isAllowed,
  unusedEntries,
} from './differential/compare.ts';
import { RELAY_ENV, SERVER_TOKEN } from './differential/fixtures.ts';
import { type ReferenceRelay, startReferenceRelay } from './differential/reference-relay.ts';
import { type Observation, runScript } from './differential/run.ts';
import { SCRIPT } from './differential/script.ts';

/**
 * Every known way our relay answers the script differently from token.place's relay.py. Each entry names the step,
 * where the answers differ (`status`, a body path such as `$.error` — which covers everything inside it —,
 * `value <path>` for a compared word, `header <name>`), and why we keep the difference. The same list, by step name,
 * is the section "Differences from token.place's relay.py" of docs/tokenplace-protocol.md (checked below).
 */
const ALLOWED_DIFFERENCES: AllowedDifference[] = [];

const DOC = fileURLToPath(new URL('../../../docs/tokenplace-protocol.md', import.meta.url));
const DOC_SECTION = "## Differences from token.place's relay.py";

let reference: ReferenceRelay | undefined;
let twin: ReferenceRelay | undefined;
let ours: RelayProcess | undefined;
let runs: { reference: Observation[]; twin: Observation[]; ours: Observation[] };

beforeAll(async () => {
  [reference, twin, ours] = await Promise.all([
    startReferenceRelay(RELAY_ENV),
    startReferenceRelay(RELAY_ENV),
    startRelay(RELAY_ENV),
  ]);
  const [onReference, onTwin, onOurs] = await Promise.all(
    [reference.url, twin.url, ours.url].map((url) => runScript(url, SCRIPT, SERVER_TOKEN)),
  );
  runs = { reference: onReference, twin: onTwin, ours: onOurs };
}, 60_000);

afterAll(async () => {
  await Promise.all([reference?.stop(), twin?.stop(), stopAllRelays()]);
});

function report(differences: Difference[], left: Observation[], right: Observation[]): string {
  return `${differences.length} difference(s):\n${formatDifferences(differences, left, right)}`;
}

describe("our relay against token.place's relay.py, one scripted sequence of good and bad requests", () => {
  it('the script is deterministic: two relay.py instances answer it alike', () => {
    const differences = compareRuns(runs.reference, runs.twin);
    expect(differences.length, report(differences, runs.reference, runs.twin)).toBe(0);
  });

  it('our relay answers with the same status and body shape, except as the allowlist says', () => {
    const unexplained = compareRuns(runs.reference, runs.ours).filter(
      (difference) => !isAllowed(difference, ALLOWED_DIFFERENCES),
    );
    expect(unexplained.length, report(unexplained, runs.reference, runs.ours)).toBe(0);
  });

  it('every allowlist entry still describes a difference: one our relay no longer shows is taken out', () => {
    const stale = unusedEntries(compareRuns(runs.reference, runs.ours), ALLOWED_DIFFERENCES);
    expect(stale.map((entry) => `${entry.step}: ${entry.where.join(', ')}`)).toEqual([]);
  });

  it('every allowlist entry names a step of the script and is written up in docs/tokenplace-protocol.md', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(doc).toContain(DOC_SECTION);
    const section = doc.slice(doc.indexOf(DOC_SECTION)).split(/\n## /)[0];
    const steps = new Set(SCRIPT.map((step) => step.name));
    expect(steps.size, 'step names are unique').toBe(SCRIPT.length);
    for (const entry of ALLOWED_DIFFERENCES) {
      expect(steps.has(entry.step), `allowlisted step "${entry.step}" is in the script`).toBe(true);
      expect(section, `docs/tokenplace-protocol.md lists step "${entry.step}"`).toContain(`\`${entry.step}\``);
    }
  });
});
