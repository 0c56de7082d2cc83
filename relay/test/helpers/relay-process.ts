import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deferred, within } from './async.ts';
import { freePort } from './ports.ts';

/** The real entry point, run the way `npm start` runs it. */
export const MAIN = fileURLToPath(new URL('../../node/main.ts', import.meta.url));

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RelayProcess {
  child: ChildProcess;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Complete stdout lines, each parsed as JSON; a line that is not JSON throws. */
  logs(): LogLine[];
  waitForLog(match: (line: LogLine) => boolean, ms: number, what: string): Promise<LogLine>;
  exited: Promise<Exit>;
  /** SIGTERM, then SIGKILL if the process outlives ms. */
  stop(ms?: number): Promise<Exit>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Settings every test relay gets unless the test overrides them: loopback only, no drain wait. */
const TEST_DEFAULTS: Record<string, string> = {
  RELAY_HOST: '127.0.0.1',
  TOKENPLACE_RELAY_DRAIN_SECONDS: '0',
  TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS: '3',
};

/** The parent's environment minus any relay setting, so a developer's shell cannot change what a test sees. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(RELAY_|TOKENPLACE_|TOKEN_PLACE_)/.test(name)) continue;
    env[name] = value;
  }
  return env;
}

export interface SpawnOptions {
  /** A command the relay runs under, e.g. ['prlimit', '--nofile=256:256', '--'] to lower its open-file limit. */
  prefix?: string[];
}

function spawnRelay(
  env: Record<string, string>,
  options: SpawnOptions = {},
): {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  exited: Promise<Exit>;
} {
  const [command, ...args] = [...(options.prefix ?? []), process.execPath, MAIN];
  const child = spawn(command, args, {
    env: { ...cleanEnv(), ...TEST_DEFAULTS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out.stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    out.stderr += chunk;
  });
  const exited = new Promise<Exit>((resolve) => {
    // 'close' rather than 'exit': by then stdout and stderr have been read to the end.
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, out, exited };
}

function parseLines(stdout: string): LogLine[] {
  const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        throw new Error(`relay wrote a stdout line that is not JSON: ${line}`);
      }
    });
}

/** Starts main.ts on a free port and resolves once it logs "relay listening". */
export async function startRelay(env: Record<string, string>, options: SpawnOptions = {}): Promise<RelayProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startRelayOn(port, env, options);
    } catch (err) {
      // Someone else took the port between freePort and the relay's listen: try another.
      if (!(err instanceof PortTakenError) || attempt === 3) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startRelayOn(port: number, env: Record<string, string>, options: SpawnOptions): Promise<RelayProcess> {
  const { child, out, exited } = spawnRelay({ ...env, RELAY_PORT: String(port) }, options);
  const logs = () => parseLines(out.stdout);

  function waitForLog(match: (line: LogLine) => boolean, ms: number, what: string): Promise<LogLine> {
    const found = logs().find(match);
    if (found) return Promise.resolve(found);
    const seen = deferred<LogLine>();
    const onData = () => {
      const line = logs().find(match);
      if (line) seen.resolve(line);
    };
    child.stdout?.on('data', onData);
    void exited.then(() => seen.reject(new Error(`relay exited before logging ${what}; stderr: ${out.stderr}`)));
    return within(seen.promise, ms, `${what}; stdout so far:\n${out.stdout}`).finally(() => child.stdout?.off('data', onData));
  }

  async function stop(ms = 5_000): Promise<Exit> {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  try {
    const listening = await waitForLog((line) => line.msg === 'relay listening', 10_000, 'the relay to listen');
    if (listening.port !== port) throw new Error(`relay logged port ${listening.port}, expected ${port}`);
  } catch (err) {
    await stop(1_000);
    if (out.stdout.includes('EADDRINUSE')) throw new PortTakenError(`port ${port} was taken`);
    throw err;
  }
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    logs,
    waitForLog,
    exited,
    stop,
  };
}

/** Runs main.ts expecting it to exit by itself (bad configuration, port taken). */
export async function runRelayToExit(
  env: Record<string, string>,
  ms = 10_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  // Should the settings turn out valid, the relay listens on a free port rather than the default.
  const { child, out, exited } = spawnRelay({ RELAY_PORT: String(await freePort()), ...env });
  try {
    const exit = await within(exited, ms, 'the relay to exit');
    return { ...exit, stdout: out.stdout, stderr: out.stderr };
  } finally {
    child.kill('SIGKILL');
  }
}

/** Kills every relay this worker started and has not seen exit; for afterAll. */
export async function stopAllRelays(): Promise<void> {
  const exits = [...live].map(
    (child) =>
      new Promise<void>((resolve) => {
        child.once('close', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(exits);
}
