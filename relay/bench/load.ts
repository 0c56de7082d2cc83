import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { cpuSeconds } from './memory.ts';

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Alternating runs per row wherever two targets are compared. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Seconds per run wherever two targets are compared, ROUNDS runs each. */
export const TURN_SECONDS = Math.max(2, Math.round(SECONDS / 2));

/** A Debian tool the benchmark needs, or exit 2 naming the package. */
export function need(tool: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
    try {
      execFileSync('test', ['-x', join(dir, tool)]);
      return join(dir, tool);
    } catch {
      // keep looking
    }
  }
  process.stderr.write(`bench: ${tool} is not installed; on Debian: apt-get install -y nginx wrk\n`);
  process.exit(2);
}

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  /** Requests completed in the run. */
  requests: number;
}

function wrkArgs(url: string, seconds: number, connections: number): string[] {
  return ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url];
}

function parseWrk(out: string): Load {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const percentile = (p: string) => {
    const match = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!match) throw new Error(`wrk output without ${p}%:\n${out}`);
    const value = Number(match[1]);
    return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
  };
  return { rps, requests, p50: percentile('50'), p99: percentile('99') };
}

/** Saturation run with wrk (one thread, one core): the most a target can do here. */
export function wrk(url: string, seconds = SECONDS, connections = CONNECTIONS): Load {
  return parseWrk(execFileSync(need('wrk'), wrkArgs(url, seconds, connections), { encoding: 'utf8' }));
}

/** The same, without blocking, so that two targets can be loaded at the same time. */
export function wrkAsync(url: string, seconds: number, connections: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    execFile(need('wrk'), wrkArgs(url, seconds, connections), { encoding: 'utf8' }, (err, out) =>
      err ? reject(err) : resolve(parseWrk(out)),
    );
  });
}

/** Fixed-rate run with autocannon, for latency at a given load rather than at saturation. */
export async function atRate(url: string, rate: number): Promise<Load> {
  const result = await autocannon({ url, connections: 10, overallRate: rate, duration: SECONDS });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, requests: result.requests.total };
}

export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export const progress = (step: string): void => {
  process.stderr.write(`bench: ${step}\n`);
};

/** Microseconds of CPU a process used per request since it had used `before` CPU seconds. */
export function cpuPerRequest(pid: number, before: number, requests: number): number {
  return ((cpuSeconds(pid) - before) * 1e6) / requests;
}

/** A process under load: where to send requests, and its pid for its CPU time. */
export interface Measured {
  url: string;
  pid: number;
}

/** The geometric mean of ratios and its 95% interval (two standard errors either side, on the log scale). */
export function ratioInterval(ratios: number[]): { mean: number; low: number; high: number } {
  const logs = ratios.map(Math.log);
  const mean = logs.reduce((sum, value) => sum + value, 0) / logs.length;
  const variance = logs.reduce((sum, value) => sum + (value - mean) ** 2, 0) / Math.max(logs.length - 1, 1);
  const margin = 2 * Math.sqrt(variance / logs.length);
  return { mean: Math.exp(mean), low: Math.exp(mean - margin), high: Math.exp(mean + margin) };
}

/**
 * Two targets loaded at the same time, `rounds` times: whatever else the machine does then slows
 * both alike, so the ratio of their CPU time per request (a over b) is the steadiest comparison
 * this shared machine allows. The load generator of each starts first in every other round.
 * Reports the median ratio, the 95% interval of their geometric mean, and every run's pair in µs.
 */
export async function cpuRatioTogether(
  a: Measured,
  b: Measured,
  seconds: number,
  rounds = ROUNDS,
): Promise<{ ratio: number; interval: { low: number; high: number }; runs: { a: number; b: number }[] }> {
  const runs: { a: number; b: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    const aBefore = cpuSeconds(a.pid);
    const bBefore = cpuSeconds(b.pid);
    const load = (target: Measured) => wrkAsync(target.url, seconds, CONNECTIONS);
    const [aLoad, bLoad] =
      round % 2 === 0
        ? await Promise.all([load(a), load(b)])
        : await Promise.all([load(b), load(a)]).then(([second, first]) => [first, second]);
    runs.push({ a: cpuPerRequest(a.pid, aBefore, aLoad.requests), b: cpuPerRequest(b.pid, bBefore, bLoad.requests) });
  }
  const ratios = runs.map((run) => run.a / run.b);
  const { low, high } = ratioInterval(ratios);
  return { ratio: median(ratios), interval: { low, high }, runs };
}

export const formatPairs = (runs: { a: number; b: number }[]): string =>
  runs.map((run) => `${run.a.toFixed(0)}/${run.b.toFixed(0)} µs`).join(', ');
