/**
 * A throwaway redis-server (Debian's, Redis 7 protocol) on a free loopback port, without
 * persistence, for the tests of the shared store. CI installs the binary (.ci/run); when it is
 * missing the test fails and says so instead of skipping.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { freePort } from './ports.ts';

export interface RedisServer {
  url: string;
  port: number;
  /** SIGSTOP: the server keeps its sockets but answers nothing, as a stalled Valkey would. */
  pause(): void;
  resume(): void;
  /** Stops the process; `start` brings a new, empty one up on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

const BINARY = process.env.TOKENPLACE_TEST_REDIS_SERVER ?? 'redis-server';

export function assertInstalled(): void {
  try {
    execFileSync(BINARY, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `${BINARY} is not installed: the shared-store tests need a real Redis 7 server (apt-get install redis-server; .ci/run installs it)`,
    );
  }
}

/** Starts redis-server on port (no persistence, loopback only) with extra arguments; resolves once it accepts connections. */
export function launch(port: number, extra: string[] = []): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A test or bench process that dies without its cleanup must not leave a server behind.
  const orphaned = () => child.kill('SIGKILL');
  process.once('exit', orphaned);
  child.once('exit', () => process.off('exit', orphaned));
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${output}`));
    });
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  assertInstalled();
  const port = await freePort();
  let child = await launch(port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
    async start() {
      child = await launch(port);
    },
  };
}
