/** The Markdown section of docs/benchmarks.md for the token.place protocol benchmark. */
import type { Memory, Options, Paired, RelayResult } from './run.ts';
import { describeSettings } from './settings.ts';

export interface Context {
  when: Date;
  machine: string;
  versions: { node: string; python: string; gunicorn: string };
  loadBefore: number;
  loadAfter: number;
  options: Options;
  /** This relay in memory and on Valkey/Redis measured side by side (round trips alternating). */
  paired?: Paired;
}

const ms = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '' : value.toFixed(2));
const mb = (value: number | undefined) => (value === undefined ? '' : value.toFixed(0));

function memoryCell(memory: Memory | undefined): string {
  if (!memory) return '';
  const parts =
    memory.byProcess.length > 1 ? ` (${memory.byProcess.map((p) => `${p.label} ${mb(p.rss.current)}`).join(' + ')})` : '';
  return `${mb(memory.total.current)}${parts}`;
}

function failed(result: RelayResult, columns: number): string {
  return `| ${result.name} | not measured: ${result.error?.replaceAll('|', '/').replaceAll('\n', ' ').slice(0, 200)} |${' |'.repeat(columns - 2)}`;
}

export function renderSection(results: RelayResult[], context: Context): string {
  const { options } = context;
  const ours = results.find((result) => result.which === 'ours' && !result.error);
  const reference = results.find((result) => !result.ours && !result.error);
  const when = `${context.when.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  const roundTripRows = results.map((result) => {
    const trips = result.roundTrips;
    if (!trips) return failed(result, 7);
    return (
      `| ${result.name} | ${ms(trips.roundTrip.p50)} | ${ms(trips.roundTrip.p99)} | ${ms(trips.wakeUp.p50)} | ${ms(trips.wakeUp.p99)} | ` +
      `${ms(trips.dispatch.p50)} | ${ms(trips.dispatch.p99)} |`
    );
  });
  const loadRows = results.map((result) => {
    const load = result.retrieve;
    if (!load) return failed(result, 9);
    const other = Object.entries(load.unexpected)
      .map(([status, count]) => `${count} × ${status}`)
      .join(', ');
    return (
      `| ${result.name} | ${load.requestsPerSecond.toFixed(0)} | ${ms(load.p50)} | ${ms(load.p99)} | ` +
      `${result.cpuMicrosPerPoll?.toFixed(0) ?? ''} | ${other || 'none'} | ` +
      `${memoryCell(result.rest)} | ${memoryCell(result.loaded)} | ${mb(result.loaded?.total.anon)} |`
    );
  });
  return [
    'Produced by `npm run bench`, or alone by `npm run bench:tokenplace` (about a minute).',
    '',
    `Measured ${when} on ${context.machine}, Node ${context.versions.node}, Python ${context.versions.python}, ` +
      `gunicorn ${context.versions.gunicorn}. The machine is shared: load average (1 min) ${context.loadBefore.toFixed(2)} ` +
      `before the run, ${context.loadAfter.toFixed(2)} after it; when each relay's turn began: ` +
      `${results.map((result) => `${result.which} ${result.loadAtStart.toFixed(2)}`).join(', ')}.`,
    '',
    "- **relay.py**: token.place's reference relay (pinned copy) as token.place runs it in production: " +
      '`gunicorn -w 1 --threads 4 relay:app` (Debian `python3-gunicorn`), started through `peer.sh python -m gunicorn`.',
    "- **this relay**: compiled, started with the image's Node flags, its HTTP upstream off.",
    `- Both with the same environment and server token: ${describeSettings()}.`,
    '- One relay at a time on 127.0.0.1; the benchmark client and the fake node run in one Node process beside it.',
    '- **3 replicas**: three processes of this relay sharing one redis-server, as a scaled-out Deployment: in (a) the ' +
      'node long-polls replica 1, the client posts through replica 2 and retrieves through replica 3; in (b) the waiting ' +
      'clients are spread over the three. All of it, redis-server included, shares the same cores.',
    '',
    `**(a) Round trip.** ${options.roundTrip.count} round trips one after another, after ${options.roundTrip.warmup} of warm-up. ` +
      'A fake compute node in TypeScript registers, long-polls and answers each work item at once with a made-up ciphertext. ' +
      "One round trip: the client POSTs `/api/v1/relay/requests`, the node's parked long poll wakes, the node POSTs " +
      '`/api/v1/relay/responses`, and the client, told in-process that the node has answered, POSTs ' +
      '`/api/v1/relay/responses/retrieve` and gets 200 (so no client poll interval is measured). ' +
      `Before each round trip the node's poll has been parked in the relay for ${options.roundTrip.settleMs} ms. ` +
      "Wake-up: from the client's `/requests` answer arriving to the node's poll answer arriving (below 0 when the node's " +
      "answer came first); dispatch: from the client sending `/requests` to the node's poll answer arriving.",
    '',
    '| relay | round trip p50 ms | round trip p99 ms | wake-up p50 ms | wake-up p99 ms | dispatch p50 ms | dispatch p99 ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...roundTripRows,
    '',
    `**(b) Retrieve polls with ${options.clients} clients waiting, (c) memory.** ${options.clients} requests queued for a ` +
      `registered node that never polls, then ${options.clients} client loops, each on its own keep-alive connection, POST ` +
      `\`/api/v1/relay/responses/retrieve\` for their request one after another (each answered 202 pending) for ` +
      `${options.seconds} s after ${options.warmupSeconds} s of warm-up. RSS is VmRSS from /proc: at rest (started, idle) and ` +
      'the largest sample (every 250 ms) while the clients wait, with its anonymous part (RssAnon: heap and buffers; the rest ' +
      "is mostly the runtime's own code pages). For relay.py the RSS is gunicorn's master plus its worker. " +
      "Relay CPU per poll: the relay's processes' user + system CPU time over the measured seconds (/proc/<pid>/stat) divided " +
      'by the polls answered in them; unlike polls/s it does not shrink when other work shares the cores.',
    '',
    '| relay | retrieve polls/s | p50 ms | p99 ms | relay CPU µs per poll | other answers | RSS at rest MB | RSS, clients waiting MB | of which anonymous MB |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |',
    ...loadRows,
    '',
    ...targets(ours, reference, options.clients),
    ...sharedStoreLines(results, context.paired),
  ].join('\n');
}

function targets(ours: RelayResult | undefined, reference: RelayResult | undefined, clients: number): string[] {
  const verdict = (met: boolean) => (met ? 'met' : '**not met**');
  const lines = ['Targets for this relay:', ''];
  const ratio =
    ours?.retrieve && reference?.retrieve ? ours.retrieve.requestsPerSecond / reference.retrieve.requestsPerSecond : undefined;
  lines.push(
    ratio === undefined
      ? "- retrieve polls/s ≥ 5× relay.py's: not measured"
      : `- retrieve polls/s ≥ 5× relay.py's: ${ratio.toFixed(1)}×, ${verdict(ratio >= 5)}`,
  );
  const cpuRatio =
    ours?.cpuMicrosPerPoll && reference?.cpuMicrosPerPoll ? reference.cpuMicrosPerPoll / ours.cpuMicrosPerPoll : undefined;
  if (cpuRatio !== undefined) {
    lines.push(
      `  (by CPU time per poll, which a busy machine distorts less: relay.py spends ${cpuRatio.toFixed(1)}× the relay's)`,
    );
  }
  const wake = ours?.roundTrips?.wakeUp.p99;
  lines.push(
    wake === undefined ? '- p99 wake-up < 5 ms: not measured' : `- p99 wake-up < 5 ms: ${ms(wake)} ms, ${verdict(wake < 5)}`,
  );
  const rss = ours?.loaded?.total;
  lines.push(
    rss === undefined
      ? `- RSS < 100 MB with ${clients} clients waiting: not measured`
      : `- RSS < 100 MB with ${clients} clients waiting: ${mb(rss.current)} MB (${mb(rss.anon)} MB anonymous), ${verdict(rss.current < 100)}`,
  );
  return lines;
}

/** The shared store's costs: what Valkey/Redis adds to a round trip, and polls/s with 3 replicas. */
function sharedStoreLines(results: RelayResult[], paired: Paired | undefined): string[] {
  const row = (which: string) => results.find((result) => result.which === which && !result.error);
  const valkey = row('ours+valkey');
  const three = row('ours+valkey*3');
  const lines: string[] = [];
  if (paired?.memory && paired.valkey) {
    const added = paired.valkey.roundTrip.p99 - paired.memory.roundTrip.p99;
    const addedMedian = paired.valkey.roundTrip.p50 - paired.memory.roundTrip.p50;
    lines.push(
      `- added p99 per round trip, state on Valkey/Redis vs in memory ≤ 2 ms: ${ms(added)} ms, ${added <= 2 ? 'met' : '**not met**'} ` +
        `(p50 ${ms(addedMedian)} ms; both relays side by side, ${paired.memory.count} round trips on each, alternating, so both ` +
        `see the same load (${paired.loadAtStart.toFixed(2)} when it began): in memory p50 ${ms(paired.memory.roundTrip.p50)} ` +
        `p99 ${ms(paired.memory.roundTrip.p99)} ms, on Valkey/Redis p50 ${ms(paired.valkey.roundTrip.p50)} p99 ${ms(paired.valkey.roundTrip.p99)} ms)`,
    );
  } else if (paired?.error) {
    lines.push(`- added p99 per round trip, state on Valkey/Redis vs in memory: not measured: ${paired.error.slice(0, 200)}`);
  }
  if (three?.retrieve) {
    const beside = valkey?.retrieve ? ` (1 replica on Valkey/Redis: ${valkey.retrieve.requestsPerSecond.toFixed(0)})` : '';
    lines.push(
      `- retrieve polls/s with 3 replicas on one Valkey/Redis: ${three.retrieve.requestsPerSecond.toFixed(0)}${beside}; ` +
        `round trip across replicas p50 ${ms(three.roundTrips?.roundTrip.p50)} ms, p99 ${ms(three.roundTrips?.roundTrip.p99)} ms`,
    );
  }
  return lines;
}
