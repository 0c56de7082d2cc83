/**
 * Runs the token.place protocol benchmark (issue 11) against relay.py and this relay, one after the
 * other, and renders its section of docs/benchmarks.md. Settings come from the environment:
 *
 *   BENCH_ROUND_TRIPS        measured round trips in (a) (default 300), after BENCH_ROUND_TRIP_WARMUP (default 50)
 *   BENCH_SETTLE_MS          how long the node's poll is parked before each round trip (default 20)
 *   BENCH_CLIENTS            waiting clients in (b) (default 200)
 *   BENCH_RETRIEVE_SECONDS   measured seconds of (b) (default 10), after 2 s of warm-up
 *   BENCH_RELAYS             which relays, comma-separated: relay.py,ours,ours+valkey,ours+valkey*3 (default all four:
 *                            this relay also on the shared Valkey/Redis store, a throwaway redis-server, and three of
 *                            its replicas sharing one; without relay.py and ours, nothing is written). With ours and
 *                            ours+valkey, a last run puts the two side by side, round trips alternating, for what
 *                            the store adds to a round trip under the same load
 *   BENCH_WRITE=0            print the section without rewriting docs/benchmarks.md
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildRelay } from '../compiled-relay.ts';
import { cpuSeconds, type Rss, rssMb, sumRss } from '../memory.ts';
import { replaceSection } from '../report.ts';
import {
  pythonVersions,
  type RelayUnderTest,
  startOurRelay,
  startOurRelayOnValkey,
  startOurReplicasOnValkey,
  startRelayPy,
} from './relays.ts';
import { measureRetrieveLoad, type RetrieveLoad } from './retrieve-load.ts';
import { measurePairedRoundTrips, measureRoundTrips, type RoundTripOptions, type RoundTrips } from './round-trip.ts';
import { type Context, renderSection } from './table.ts';

const SECTION = 'token.place protocol: relay.py and this relay';

/** Measures, prints the section, and writes it into docs/benchmarks.md when both relays were measured. */
export async function benchAndReport({ build }: { build: boolean }): Promise<boolean> {
  const options = optionsFromEnv();
  if (build && options.relays.includes('ours')) buildRelay();
  const { markdown, complete } = await benchTokenplaceProtocol(options);
  process.stdout.write(`${markdown}\n`);
  if (process.env.BENCH_WRITE === '0') return complete;
  const both = options.relays.includes('ours') && options.relays.includes('relay.py');
  if (!complete || !both) {
    process.stderr.write(
      `bench tokenplace: docs/benchmarks.md left alone (${complete ? 'only one relay measured' : 'a relay failed'})\n`,
    );
    return complete;
  }
  const file = fileURLToPath(new URL('../../../docs/benchmarks.md', import.meta.url));
  replaceSection(file, SECTION, markdown);
  process.stdout.write(`wrote ${file}\n`);
  return complete;
}

export interface Memory {
  total: Rss;
  byProcess: { label: string; rss: Rss }[];
}

export interface RelayResult {
  name: string;
  ours: boolean;
  /** What BENCH_RELAYS called it. */
  which: string;
  /** The 1-minute load average when this relay's measurement started (the machine is shared). */
  loadAtStart: number;
  rest?: Memory;
  roundTrips?: RoundTrips;
  retrieve?: RetrieveLoad;
  /** CPU time the relay's processes spent per retrieve poll in the measured seconds: robust to a busy machine. */
  cpuMicrosPerPoll?: number;
  /** The largest RSS sampled while the clients were waiting. */
  loaded?: Memory;
  error?: string;
}

const number = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

export function optionsFromEnv() {
  return {
    roundTrip: {
      count: number('BENCH_ROUND_TRIPS', 300),
      warmup: number('BENCH_ROUND_TRIP_WARMUP', 50),
      settleMs: number('BENCH_SETTLE_MS', 20),
    } satisfies RoundTripOptions,
    clients: number('BENCH_CLIENTS', 200),
    seconds: number('BENCH_RETRIEVE_SECONDS', 10),
    warmupSeconds: 2,
    relays: (process.env.BENCH_RELAYS ?? 'relay.py,ours,ours+valkey,ours+valkey*3').split(',').map((name) => name.trim()),
  };
}

export type Options = ReturnType<typeof optionsFromEnv>;

/** Measures both relays; complete is false when one could not be measured (its row says why). */
export async function benchTokenplaceProtocol(options: Options): Promise<{ markdown: string; complete: boolean }> {
  const versions = pythonVersions();
  const loadBefore = loadavg();
  const progress = (step: string) =>
    process.stderr.write(`bench tokenplace: ${step} (load average ${loadavg()[0].toFixed(2)})\n`);
  const results: RelayResult[] = [];
  for (const which of options.relays) {
    const start = {
      'relay.py': startRelayPy,
      ours: () => startOurRelay(),
      'ours+valkey': startOurRelayOnValkey,
      'ours+valkey*3': () => startOurReplicasOnValkey(3),
    }[which];
    if (start === undefined) throw new Error(`BENCH_RELAYS: unknown relay ${which}`);
    progress(`starting ${which}`);
    results.push(await benchOne(start, which, options, progress));
  }
  const paired =
    options.relays.includes('ours') && options.relays.includes('ours+valkey') ? await pairedRun(options, progress) : undefined;
  const context: Context = {
    when: new Date(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GB`,
    versions: { node: process.versions.node, ...versions },
    loadBefore: loadBefore[0],
    loadAfter: loadavg()[0],
    options,
    paired,
  };
  return { markdown: renderSection(results, context), complete: results.every((result) => !result.error) };
}

/** What the Valkey/Redis store adds to a round trip: both relays side by side, round trips alternating. */
async function pairedRun(options: Options, progress: (step: string) => void): Promise<Paired> {
  const loadAtStart = loadavg()[0];
  let memory: RelayUnderTest | undefined;
  let valkey: RelayUnderTest | undefined;
  try {
    memory = await startOurRelay();
    valkey = await startOurRelayOnValkey();
    progress(`paired: ${options.roundTrip.warmup} + ${options.roundTrip.count} round trips on each, alternating`);
    const [inMemory, onValkey] = await measurePairedRoundTrips([memory.origin], [valkey.origin], options.roundTrip);
    return { loadAtStart, memory: inMemory, valkey: onValkey };
  } catch (error) {
    return { loadAtStart, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await memory?.stop();
    await valkey?.stop();
  }
}

export interface Paired {
  loadAtStart: number;
  memory?: RoundTrips;
  valkey?: RoundTrips;
  error?: string;
}

async function benchOne(
  start: () => Promise<RelayUnderTest>,
  which: string,
  options: Options,
  progress: (step: string) => void,
): Promise<RelayResult> {
  let relay: RelayUnderTest | undefined;
  const ours = which !== 'relay.py';
  const result: RelayResult = { name: ours ? 'this relay' : 'relay.py', ours, which, loadAtStart: loadavg()[0] };
  try {
    relay = await start();
    result.name = relay.name;
    const memory = (): Memory => {
      const byProcess = (relay as RelayUnderTest).processes().map(({ label, pid }) => ({ label, rss: rssMb(pid) }));
      return { total: sumRss(byProcess.map((entry) => entry.rss)), byProcess };
    };
    await new Promise((resolve) => setTimeout(resolve, 1000));
    result.rest = memory();
    progress(`${relay.name}: (a) ${options.roundTrip.warmup} + ${options.roundTrip.count} round trips`);
    const origins = relay.origins ?? [relay.origin];
    result.roundTrips = await measureRoundTrips(origins, options.roundTrip);
    progress(`${relay.name}: (b) ${options.clients} clients polling for ${options.seconds} s`);
    const cpu = () => (relay as RelayUnderTest).processes().reduce((sum, { pid }) => sum + cpuSeconds(pid), 0);
    let cpuAtStart = 0;
    let cpuUsed = 0;
    result.retrieve = await measureRetrieveLoad(origins, {
      clients: options.clients,
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
      sample: () => {
        const now = memory();
        if (!result.loaded || now.total.current > result.loaded.total.current) result.loaded = now;
      },
      measuring: (phase) => {
        if (phase === 'start') cpuAtStart = cpu();
        else cpuUsed = cpu() - cpuAtStart;
      },
    });
    result.cpuMicrosPerPoll = (cpuUsed * 1e6) / result.retrieve.answered;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
    progress(`${result.name} failed: ${result.error}`);
  } finally {
    await relay?.stop();
  }
  return result;
}
