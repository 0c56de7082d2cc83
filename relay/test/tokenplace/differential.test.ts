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
  staleAllowances,
} from './differential/compare.ts';
import { RELAY_ENV, SERVER_TOKEN } from './differential/fixtures.ts';
import { type ReferenceRelay, startReferenceRelay } from './differential/reference-relay.ts';
import { type Observation, runScript } from './differential/run.ts';
import { SCRIPT } from './differential/script.ts';

/** Reasons shared by several allowlist entries. */
const HTML_ERROR_PAGE =
  "relay.py's request.get_json() answers Flask's HTML 400 page for a body that is not JSON; our errors are always JSON, " +
  'with the "Invalid request data" body relay.py uses for JSON that is not an object';
const WORK_ITEM =
  'the work item carries next_ping_in_x_seconds: 0, so server.py polls again at once instead of sleeping the 30 s lease; it ' +
  "does not carry the client's cancel_token, the proof that only the client may cancel with";
const UPSTREAM_POOL =
  "relay.py lists its configuration's default upstream pool (http://localhost:8001) even though nothing uses it; our " +
  'relay lists an HTTP upstream only when one is configured, and none is here';

/**
 * Every known way our relay answers the script differently from token.place's relay.py. Each entry names the step,
 * where the answers differ (`status`, a body path such as `$.error` — which covers everything inside it —,
 * `value <path>` for a compared word, `header <name>`), and why we keep the difference. The same list, by step name,
 * is the section "Differences from token.place's relay.py" of docs/tokenplace-protocol.md (checked below).
 */
const ALLOWED_DIFFERENCES: AllowedDifference[] = [
  { step: 'diagnostics: no nodes', where: ['$.active_upstream_servers', '$.configured_upstream_servers'], why: UPSTREAM_POOL },
  { step: 'diagnostics: four nodes', where: ['$.active_upstream_servers', '$.configured_upstream_servers'], why: UPSTREAM_POOL },
  {
    step: 'diagnostics: two nodes left',
    where: ['$.active_upstream_servers', '$.configured_upstream_servers'],
    why: UPSTREAM_POOL,
  },
  { step: 'requests: content type not JSON', where: ['$', 'value $.error.code'], why: HTML_ERROR_PAGE },
  { step: 'requests: malformed JSON', where: ['$', 'value $.error.code'], why: HTML_ERROR_PAGE },
  { step: 'retrieve: malformed JSON', where: ['$', 'value $.error.code'], why: HTML_ERROR_PAGE },
  { step: 'responses: malformed JSON', where: ['$', 'value $.error.code'], why: HTML_ERROR_PAGE },
  {
    step: 'requests: no request_id',
    where: ['status', '$', 'value $.error.code'],
    why: 'we refuse a request without request_id (400): without one it could never be retrieved, cancelled or answered by id',
  },
  {
    step: 'requests: request_id reused after its answer',
    where: ['status', '$', 'value $.error.code'],
    why: 'we refuse (409) a request_id that was already answered, cancelled or expired, so an old answer is never mistaken for a new one; relay.py queues it again',
  },
  {
    step: 'responses: no request_id',
    where: ['status', '$', 'value $.error.code'],
    why: "every request of ours has a request_id, so an answer without one answers nothing (400); relay.py queues it for the client's next retrieve",
  },
  {
    step: 'register: wrong method',
    where: ['$', 'value $.error.code'],
    why: "both answer 405; relay.py's is Flask's HTML page, ours is JSON like all our errors",
  },
  { step: 'poll: work item returned', where: ['$.cancel_token', '$.next_ping_in_x_seconds'], why: WORK_ITEM },
  { step: 'poll: second work item', where: ['$.cancel_token', '$.next_ping_in_x_seconds'], why: WORK_ITEM },
  { step: 'poll: node D takes its first', where: ['$.cancel_token', '$.next_ping_in_x_seconds'], why: WORK_ITEM },
  {
    step: 'poll: node D at max_concurrency',
    where: ['$', 'value $.request_id', 'value $.e2ee_v1'],
    why: 'a node never gets more work in flight than its max_concurrency: ours answers "No requests available" after the long poll; relay.py hands out the next item',
  },
  {
    step: 'requests: node queue full',
    where: ['status', '$', 'value $.error.code', 'header retry-after'],
    why: "a node's full queue (TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE) answers 503 no_available_capacity with Retry-After; relay.py only stops scheduling new clients onto the node and still queues",
  },
  {
    step: 'preflight: compute-node route',
    where: ['status'],
    why: "relay.py's answer is Flask's automatic OPTIONS reply (200 with Allow); ours is 204. Neither carries CORS headers, so a browser may not call compute-node routes either way",
  },
];

const DOC = fileURLToPath(new URL('../../../docs/tokenplace-protocol.md', import.meta.url));
const DOC_SECTION = "## Differences from token.place's relay.py";

let reference: ReferenceRelay | undefined;
let twin: ReferenceRelay | undefined;
let ours: RelayProcess | undefined;
let runs: { reference: Observation[]; twin: Observation[]; ours: Observation[] };

beforeAll(async () => {
  // Ours first: startRelay allows 10 s to listen, which two Python start-ups beside it can eat on a busy machine.
  ours = await startRelay(RELAY_ENV);
  const started = await Promise.allSettled([startReferenceRelay(RELAY_ENV), startReferenceRelay(RELAY_ENV)]);
  [reference, twin] = started.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  if (!reference || !twin) throw new Error('relay.py did not start');
  const [onReference, onTwin, onOurs] = await Promise.all(
    [reference.url, twin.url, ours.url].map((url) => runScript(url, SCRIPT, SERVER_TOKEN)),
  );
  runs = { reference: onReference, twin: onTwin, ours: onOurs };
}, 90_000);

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
    expect(staleAllowances(compareRuns(runs.reference, runs.ours), ALLOWED_DIFFERENCES)).toEqual([]);
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
