/**
 * The relay core against the Node reverse proxies a user would pick instead, each a plain reverse
 * proxy to the same upstream on the same Node (relay/bench/peer-proxy.ts). Single runs swing by
 * tens of percent on a shared machine, so the targets are measured in turn, ROUNDS times, and
 * each reports its median run (by requests/s) and the median of its p99s. Then the relay and the
 * faster peer are loaded at the same time, ROUNDS times: whatever else the machine is doing then
 * slows both alike, so the ratio of their CPU time per request is the steadiest figure of all.
 */
import { cpus, loadavg, totalmem } from 'node:os';
import {
  CONNECTIONS,
  cpuPerRequest,
  cpuRatioTogether,
  formatPairs,
  type Load,
  median,
  progress,
  ROUNDS,
  TURN_SECONDS,
  wrk,
} from './load.ts';
import { cpuSeconds } from './memory.ts';

export interface ProxyUnderTest {
  name: string;
  label: string;
  url: string;
  pid: number;
}

export async function benchPeers(
  relay: ProxyUnderTest,
  peers: ProxyUnderTest[],
  payloadBytes: number,
): Promise<{ text: string; relayAhead: boolean }> {
  progress('the relay and the peer proxies, in alternation');
  const seconds = TURN_SECONDS;
  const all = [relay, ...peers];
  const runs = new Map(all.map((target) => [target.name, [] as Load[]]));
  const cpu = new Map(all.map((target) => [target.name, [] as number[]]));
  const before = loadavg()[0] ?? 0;
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order so that no target always runs right after the same neighbour.
    for (let i = 0; i < all.length; i++) {
      const target = all[(round + i) % all.length] as ProxyUnderTest;
      const cpuBefore = cpuSeconds(target.pid);
      const load = wrk(target.url, seconds);
      runs.get(target.name)?.push(load);
      cpu.get(target.name)?.push(cpuPerRequest(target.pid, cpuBefore, load.requests));
    }
  }
  const summary = new Map(
    all.map((target) => {
      const list = runs.get(target.name) ?? [];
      const load = {
        rps: median(list.map((run) => run.rps)),
        p50: median(list.map((run) => run.p50)),
        p99: median(list.map((run) => run.p99)),
      };
      return [target.name, load];
    }),
  );
  const of = (target: ProxyUnderTest) => summary.get(target.name) as { rps: number; p50: number; p99: number };
  const fastest = peers.reduce((best, peer) => (of(peer).rps > of(best).rps ? peer : best));

  progress(`the relay and ${fastest.label}, loaded at the same time`);
  const together = await cpuRatioTogether(relay, fastest, seconds);
  const after = loadavg()[0] ?? 0;

  // "At least as fast as the faster of them": its requests/s, and its p99 at those requests/s.
  const relayAhead = of(relay).rps >= of(fastest).rps && of(relay).p99 <= of(fastest).p99;
  const row = (target: ProxyUnderTest) =>
    `| ${target.label} | ${of(target).rps.toFixed(0)} | ${of(target).p50.toFixed(2)} | ${of(target).p99.toFixed(2)} | ` +
    `${(of(target).rps / of(fastest).rps).toFixed(2)}× | ${median(cpu.get(target.name) ?? []).toFixed(0)} | ` +
    `${(runs.get(target.name) ?? []).map((run) => run.rps.toFixed(0)).join(', ')} |`;
  const verdict = `${(of(relay).rps / of(fastest).rps).toFixed(2)}× the requests/s of ${fastest.label}, p99 ${of(relay).p99.toFixed(2)} ms against ${of(fastest).p99.toFixed(2)} ms.`;
  const text = [
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GB, Node ${process.versions.node} for all three, in the same \`npm run bench\` run as ` +
      `"Relay throughput": wrk 1 thread / ${CONNECTIONS} connections, ${payloadBytes}-byte response from the same nginx upstream. ` +
      `Each row is the median of ${ROUNDS} runs of ${seconds} s taken in turn (p99: the median of the runs' p99s). ` +
      `Load average (1 min) ${before.toFixed(2)} before, ${after.toFixed(2)} after.`,
    '',
    '| proxy | requests/s (median) | p50 ms | p99 ms | vs the faster peer | CPU µs per request (median) | every run, requests/s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...all.map(row),
    '',
    `Loaded at the same time (${ROUNDS} runs of ${seconds} s, wrk with ${CONNECTIONS} connections on each), the relay used ` +
      `**${together.ratio.toFixed(2)}×** the CPU per request of ${fastest.label} (median of the runs' ratios; 95% interval of their geometric mean ${together.interval.low.toFixed(2)}–${together.interval.high.toFixed(2)}×; every run, ` +
      `relay/peer: ${formatPairs(together.runs)}).`,
    '',
    'The peers run as plain reverse proxies (`relay/bench/peer-proxy.ts`): no logging, metrics, admission or header',
    'checks. "CPU µs per request" is the proxy process\'s user + system time over the requests wrk completed in the run.',
    `Target: the relay at least as fast as the faster peer (by requests/s), in requests/s and in p99. ${relayAhead ? '**Met**' : '**Not met**'} in this run: ${verdict}`,
  ].join('\n');
  return { text, relayAhead };
}
