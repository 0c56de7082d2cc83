/**
 * Rows (d) and (e) of `npm run bench`: the relay with registration and admission control on,
 * against the core relay of row (c).
 */
import type { ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import {
  CONNECTIONS,
  cpuRatioTogether,
  formatPairs,
  type Load,
  type Measured,
  progress,
  ROUNDS,
  SECONDS,
  TURN_SECONDS,
  wrk,
} from './load.ts';
import { findFreePort, waitForHttp } from './net.ts';

export interface AdmissionBenchOptions {
  /** Row (c)'s own saturation run, counted among the core's runs. */
  first: Load;
  /** The core relay of row (c). */
  core: Measured;
  upstreamPort: number;
  payloadBytes: number;
  /** Starts the compiled relay with these settings added to the environment. */
  startRelay(env: NodeJS.ProcessEnv): ChildProcess;
}

/**
 * A relay with a server token, a registered compute node and a per-member limit. The node is the
 * same nginx under another base path, so the two members share one upstream process and the rows
 * differ from the core only in what the relay does: admission, pool selection, registration.
 */
async function admissionRelay(options: AdmissionBenchOptions, perMember: number): Promise<Measured> {
  const port = await findFreePort();
  const token = 'bench-server-token';
  const { upstreamPort } = options;
  const child = options.startRelay({
    RELAY_HOST: '127.0.0.1',
    RELAY_PORT: String(port),
    TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}`,
    TOKENPLACE_RELAY_DRAIN_SECONDS: '0',
    TOKEN_PLACE_RELAY_SERVER_TOKEN: token,
    TOKENPLACE_RELAY_ALLOWED_UPSTREAMS: '127.0.0.1/32',
    TOKENPLACE_RELAY_SERVER_LEASE_SECONDS: '3600',
    TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: String(perMember),
    TOKENPLACE_RELAY_QUEUE_LENGTH: String(CONNECTIONS * 4),
    NODE_ENV: 'production',
  });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`);
  const registered = await fetch(`http://127.0.0.1:${port}/relay/servers`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-relay-server-token': token },
    body: JSON.stringify({ url: `http://127.0.0.1:${upstreamPort}/node`, name: 'bench-node', maxConcurrency: perMember }),
  });
  if (registered.status !== 201) throw new Error(`registration answered ${registered.status}: ${await registered.text()}`);
  const url = `http://127.0.0.1:${port}/v1/models`;
  await autocannon({ url, connections: CONNECTIONS, duration: 3 });
  return { url, pid: child.pid as number };
}

/**
 * Rows (d) and (e): the relay with registration and admission on. In (d) the two members have a
 * slot for every connection, so each request pays for admission and pool selection but never
 * waits: that is the cost of the feature, the row the 10% target applies to. In (e) they have
 * slots for 70% of the connections, so the queue is never empty: that shows what waiting costs.
 */
export async function benchAdmission(options: AdmissionBenchOptions): Promise<string> {
  const { first, core: coreRelay, payloadBytes } = options;
  const roomy = await admissionRelay(options, CONNECTIONS);
  const perMember = Math.max(1, Math.floor((CONNECTIONS * 0.7) / 2));
  const queuedRelay = await admissionRelay(options, perMember);
  // One run per row swings by tens of percent on a shared machine, so the core (the same relay
  // process as row (c)) and rows (d) and (e) are measured in alternation and each reports its median.
  const runs: Record<'core' | 'roomy' | 'queued', Load[]> = { core: [first], roomy: [], queued: [] };
  const seconds = TURN_SECONDS;
  for (let round = 0; round < ROUNDS; round++) {
    runs.roomy.push(wrk(roomy.url, seconds));
    runs.queued.push(wrk(queuedRelay.url, seconds));
    runs.core.push(wrk(coreRelay.url, seconds));
  }
  const byRps = (loads: Load[]): Load => [...loads].sort((a, b) => a.rps - b.rps)[Math.floor(loads.length / 2)] as Load;
  const core = byRps(runs.core);
  const roomyLoad = byRps(runs.roomy);
  const queued = byRps(runs.queued);
  progress('registration + admission and the core, loaded at the same time');
  const together = await cpuRatioTogether(roomy, coreRelay, seconds);
  const row = (label: string, load: Load, all: Load[]) =>
    `| ${label} | ${load.rps.toFixed(0)} | ${load.p50.toFixed(2)} | ${load.p99.toFixed(2)} | ${(load.rps / core.rps).toFixed(2)}× | ${all.map((run) => run.rps.toFixed(0)).join(', ')} |`;
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.versions.node}, ` +
      `in the same \`npm run bench\` run as "Relay throughput": wrk 1 thread / ${CONNECTIONS} connections / ${SECONDS} s per row, ` +
      `${payloadBytes}-byte response from an nginx upstream.`,
    'Rows (d) and (e) run a relay with a server token and one registered compute node (the same nginx under another',
    'base path) beside the static upstream, so every request goes through admission control and pool selection.',
    `Each row is the median of ${ROUNDS} runs of ${seconds} s taken in alternation (row (c) also counts its ${SECONDS} s run`,
    'in "Relay throughput"), as single runs swing widely on this shared machine.',
    '',
    '| path | requests/s (median) | p50 ms | p99 ms | vs relay core | every run, requests/s |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    row('(c) relay core (no admission limit, no registration)', core, runs.core),
    row(`(d) registration + admission, ${CONNECTIONS} slots per member (no waiting)`, roomyLoad, runs.roomy),
    row(
      `(e) registration + admission, ${perMember} slots per member (${CONNECTIONS - 2 * perMember} always queued)`,
      queued,
      runs.queued,
    ),
    '',
    `Loaded at the same time (${ROUNDS} runs of ${seconds} s, wrk with ${CONNECTIONS} connections on each), the relay of row (d) used ` +
      `**${together.ratio.toFixed(2)}×** the CPU per request of the core (median of the runs' ratios; 95% interval of their geometric mean ${together.interval.low.toFixed(2)}–${together.interval.high.toFixed(2)}×; every run, (d)/(c): ${formatPairs(together.runs)}).`,
    '',
    'Target: (d) within 10% of (c), i.e. at least 0.90×. Row (e) is informational: with fewer slots than clients',
    'the relay deliberately holds requests back, so it shows the cost of queueing, not of admission control.',
  ].join('\n');
}
