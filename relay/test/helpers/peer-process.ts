import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deferred, within } from './async.ts';
import type { Exit } from './relay-process.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** token.place, pinned beside the repository (`<repo root>/../shared/tokenplace`) unless TOKENPLACE_PEERS_DIR says otherwise. */
export const PEERS_DIR = process.env.TOKENPLACE_PEERS_DIR || resolve(REPO_ROOT, '..', 'shared', 'tokenplace');
export const PEER_SH = join(PEERS_DIR, 'peer.sh');

/** Fails (never skips) when token.place's peers are not where the tests expect them. */
export function assertPeersInstalled(): void {
  if (!existsSync(PEER_SH)) {
    throw new Error(
      `token.place's peer.sh is missing at ${PEER_SH}: put token.place beside the repository (../shared/tokenplace) ` +
        'or set TOKENPLACE_PEERS_DIR, and run `peer.sh install` once',
    );
  }
}

/** One of token.place's programs run through peer.sh in its own process group and its own working copy. */
export interface PeerProcess {
  name: string;
  child: ChildProcess;
  stdout(): string;
  /** stdout and stderr interleaved in arrival order, for failure messages. */
  output(): string;
  /** Resolves with the first match of pattern in stdout+stderr at or after offset `from` of output(). */
  waitForOutput(pattern: RegExp, ms: number, what: string, from?: number): Promise<RegExpExecArray>;
  exited: Promise<Exit>;
  running(): boolean;
  /** Signals the whole process group (peer.sh and whatever it started). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to the group, SIGKILL if it outlives ms; then removes its working copy. */
  stop(ms?: number): Promise<Exit>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** The parent's environment minus relay and token.place settings, so a developer's shell cannot change what a test sees. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(RELAY_|TOKENPLACE_|TOKEN_PLACE_|API_|PEER_WORKDIR$)/.test(name)) continue;
    env[name] = value;
  }
  return env;
}

/**
 * Runs `peer.sh <args>` with env added to a clean environment. `prefix` runs it through another
 * command that execs it, e.g. `ip netns exec NS` for a peer on another host of a test network.
 */
export function startPeer(
  name: string,
  args: string[],
  env: Record<string, string> = {},
  stdin = false,
  prefix: readonly string[] = [],
): PeerProcess {
  assertPeersInstalled();
  const workdir = mkdtempSync(join(tmpdir(), `tokenplace-${name.replace(/\W+/g, '-')}-`));
  const [command, ...commandArgs] = [...prefix, 'bash', PEER_SH, ...args];
  const child = spawn(command, commandArgs, {
    env: { ...cleanEnv(), ...env, PEER_WORKDIR: workdir },
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  let stdout = '';
  let output = '';
  const changed = new Set<() => void>();
  const append = (chunk: string, isStdout: boolean) => {
    if (isStdout) stdout += chunk;
    output += chunk;
    for (const listener of changed) listener();
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => append(chunk, true));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => append(chunk, false));
  child.stdin?.on('error', () => undefined);
  const spawnError = deferred<never>();
  child.once('error', (err) => spawnError.reject(new Error(`${name} could not be started: ${err.message}`)));
  const exited = new Promise<Exit>((resolveExit) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      rmSync(workdir, { recursive: true, force: true });
      resolveExit({ code, signal });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;

  function waitForOutput(pattern: RegExp, ms: number, what: string, from = 0): Promise<RegExpExecArray> {
    const find = () => {
      const flags = pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`;
      const global = new RegExp(pattern.source, flags);
      global.lastIndex = from;
      return global.exec(output) ?? undefined;
    };
    const found = find();
    if (found) return Promise.resolve(found);
    const seen = deferred<RegExpExecArray>();
    const listener = () => {
      const match = find();
      if (match) seen.resolve(match);
    };
    changed.add(listener);
    void exited.then((exit) =>
      seen.reject(new Error(`${name} exited (${JSON.stringify(exit)}) before ${what}; its output:\n${output}`)),
    );
    void spawnError.promise.catch((err) => seen.reject(err));
    return within(seen.promise, ms, `${what}; ${name} output so far:\n${output}`).finally(() => changed.delete(listener));
  }

  async function stop(ms = 5_000): Promise<Exit> {
    if (running()) {
      killGroup(child, 'SIGTERM');
      // A test may have frozen it with SIGSTOP; SIGTERM waits until it runs again.
      killGroup(child, 'SIGCONT');
    }
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), ms);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    name,
    child,
    stdout: () => stdout,
    output: () => output,
    waitForOutput,
    exited,
    running,
    signal: (signal) => killGroup(child, signal),
    stop,
  };
}
