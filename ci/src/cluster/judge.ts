/** Reading what kubectl, helm and the probes printed. */

export interface CommandOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Verdict {
  ok: boolean;
  /** One line a person can act on. */
  detail: string;
}

export const pass = (detail: string): Verdict => ({ ok: true, detail });
export const fail = (detail: string): Verdict => ({ ok: false, detail });

/** `KEY=value` markers printed by the check scripts (last one wins). */
export function markers(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) found.set(match[1], match[2].trim());
  }
  return found;
}

export interface Probe {
  name: string;
  rc: number;
  body: string;
  /** Attempts made (`probe_until` retries a positive control); 1 for a single-shot probe. */
  tries: number;
}

/** `PROBE name=… rc=… [tries=…]` blocks, with the "  | "-prefixed lines that follow each. */
export function probes(text: string): Map<string, Probe> {
  const found = new Map<string, Probe>();
  let current: Probe | undefined;
  for (const line of text.split('\n')) {
    const head = /^PROBE name=(\S+) rc=(\d+)(?: tries=(\d+))?\s*$/.exec(line.trim());
    if (head) {
      current = { name: head[1], rc: Number(head[2]), body: '', tries: Number(head[3] ?? 1) };
      found.set(current.name, current);
      continue;
    }
    if (current && line.startsWith('  | ')) {
      current.body += `${line.slice(4)}\n`;
      continue;
    }
    current = undefined;
  }
  return found;
}

export type ProbeOutcome = 'reached' | 'http-error' | 'dns-failure' | 'blocked' | 'missing' | 'unknown';

/**
 * How a busybox wget probe ended. A NetworkPolicy drop shows as a time-out; an implementation that
 * rejects shows as refused/unreachable. A DNS failure or an HTTP error is not a policy block.
 */
export function probeOutcome(probe: Probe | undefined): ProbeOutcome {
  if (!probe) return 'missing';
  if (probe.rc === 0) return 'reached';
  const body = probe.body.toLowerCase();
  if (body.includes('bad address')) return 'dns-failure';
  if (body.includes('server returned error')) return 'http-error';
  if (/timed out|connection refused|no route to host|network is unreachable|connection reset|host is unreachable/.test(body)) {
    return 'blocked';
  }
  return 'unknown';
}

export function describeProbe(probe: Probe | undefined): string {
  if (!probe) return 'no output';
  const first = probe.body.trim().split('\n')[0] ?? '';
  const tries = probe.tries > 1 ? ` after ${probe.tries} tries` : '';
  return `${probeOutcome(probe)} (wget exit ${probe.rc}${tries}${first ? `: ${first.slice(0, 160)}` : ''})`;
}

/** Output tail for failure messages. */
export function tail(out: CommandOutput, lines = 12): string {
  const text = `${out.stdout}\n${out.stderr}`.trim().split('\n');
  return text.slice(-lines).join('\n');
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
export function isIp(value: string | undefined): boolean {
  if (!value) return false;
  return IPV4.test(value) || (/^[0-9a-fA-F:]+$/.test(value) && value.includes(':'));
}

/** The stand-in GPU server's `/v1/models` answer (see relay/demo/gpu-server.ts). */
export function isStandinModels(body: string): boolean {
  return /"id"\s*:\s*"stand-in"/.test(body);
}

/**
 * busybox nslookup of an ExternalName Service: a CNAME line to the target host and an address for it,
 * e.g. "gpu-server.ns.svc.cluster.local\tcanonical name = gpu-standin.gpu.svc.cluster.local".
 */
export function judgeCname(output: string, alias: string, target: string): Verdict {
  const strip = (name: string) => name.replace(/\.$/, '').toLowerCase();
  const cname = /^(\S+)\s+canonical name = (\S+)\s*$/m.exec(output);
  if (!cname)
    return fail(`${alias} did not resolve to a CNAME; nslookup said: ${output.trim().split('\n').slice(-3).join(' | ')}`);
  if (strip(cname[1]) !== strip(alias) || strip(cname[2]) !== strip(target)) {
    return fail(`${cname[1]} is a CNAME for ${cname[2]}, expected ${alias} → ${target}`);
  }
  const after = output.slice((cname.index ?? 0) + cname[0].length);
  const address = /^Address:\s*(\S+)\s*$/m.exec(after);
  if (!address || !isIp(address[1])) return fail(`${target} has no address in the answer`);
  return pass(`${alias} → ${target} → ${address[1]}`);
}
