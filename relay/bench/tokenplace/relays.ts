/**
 * The two relays under test, each started on a free loopback port with the same protocol settings:
 * token.place's relay.py as token.place runs it in production (gunicorn, 1 worker, 4 threads), and
 * this relay compiled and started with the image's Node flags.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedisServer } from '../../test/helpers/redis-server.ts';
import { COMPILED_MAIN, IMAGE_NODE_FLAGS } from '../compiled-relay.ts';
import { findFreePort, waitForHttp } from '../net.ts';
import { PROTOCOL_ENV } from './settings.ts';

export interface RelayUnderTest {
  name: string;
  origin: string;
  /** Every replica's origin when several share one state store (the first is origin). */
  origins?: string[];
  /** The processes whose memory counts, with a label each (gunicorn's master and its worker). */
  processes(): { label: string; pid: number }[];
  stop(): Promise<void>;
}

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const PYTHON = '/usr/bin/python3';
export const GUNICORN_WORKERS = 1;
export const GUNICORN_THREADS = 4;

/** token.place's pinned programs and peer.sh, beside the repository unless TOKENPLACE_PEERS_DIR says otherwise. */
export function peersDir(): string {
  return process.env.TOKENPLACE_PEERS_DIR ?? join(repoRoot, '..', 'shared', 'tokenplace');
}

/** Python's and gunicorn's versions; fails with the package to install when gunicorn is missing. */
export function pythonVersions(): { python: string; gunicorn: string } {
  try {
    const out = execFileSync(PYTHON, ['-c', 'import sys, gunicorn; print(sys.version.split()[0], gunicorn.__version__)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [python = '?', gunicorn = '?'] = out.trim().split(' ');
    return { python, gunicorn };
  } catch {
    throw new Error('gunicorn is not installed for python3; on Debian: apt-get install -y python3-gunicorn');
  }
}

export async function startRelayPy(): Promise<RelayUnderTest> {
  const peer = join(peersDir(), 'peer.sh');
  if (!existsSync(peer)) throw new Error(`token.place's peer.sh not found at ${peer}; set TOKENPLACE_PEERS_DIR`);
  const port = await findFreePort();
  // peer.sh copies token.place into PEER_WORKDIR and runs python3 there with relay.py's imports resolvable;
  // it execs python, so the child is gunicorn's master.
  const workdir = mkdtempSync(join(tmpdir(), 'tokenplace-bench-'));
  const args = ['python', '-m', 'gunicorn', '-w', String(GUNICORN_WORKERS), '--threads', String(GUNICORN_THREADS)];
  const child = launch(peer, [...args, '-b', `127.0.0.1:${port}`, 'relay:app'], { ...PROTOCOL_ENV, PEER_WORKDIR: workdir });
  const origin = `http://127.0.0.1:${port}`;
  await ready(child, origin);
  const master = child.pid as number;
  const worker = Number(readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/)[0]);
  return {
    name: `relay.py (gunicorn, ${GUNICORN_WORKERS} worker, ${GUNICORN_THREADS} threads)`,
    origin,
    processes: () => [
      { label: 'master', pid: master },
      { label: 'worker', pid: worker },
    ],
    async stop() {
      await terminate(child);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/** This relay on the shared Valkey/Redis store: a throwaway redis-server (Debian's) beside it. */
export async function startOurRelayOnValkey(): Promise<RelayUnderTest> {
  const redis = await startRedisServer();
  try {
    const relay = await startOurRelay({ TOKENPLACE_RELAY_STATE_URL: redis.url });
    return {
      ...relay,
      name: `${relay.name}, state on Valkey/Redis (redis-server ${redisVersion()})`,
      async stop() {
        await relay.stop();
        await redis.stop();
      },
    };
  } catch (error) {
    await redis.stop();
    throw error;
  }
}

/** Three replicas of this relay sharing one throwaway redis-server, as a scaled-out Deployment runs them. */
export async function startOurReplicasOnValkey(count = 3): Promise<RelayUnderTest> {
  const redis = await startRedisServer();
  const replicas: RelayUnderTest[] = [];
  const stop = async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await redis.stop();
  };
  try {
    for (let i = 0; i < count; i++) replicas.push(await startOurRelay({ TOKENPLACE_RELAY_STATE_URL: redis.url }));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    name: `${replicas[0].name}, ${count} replicas, state on one Valkey/Redis (redis-server ${redisVersion()})`,
    origin: replicas[0].origin,
    origins: replicas.map((replica) => replica.origin),
    processes: () => replicas.flatMap((replica, i) => replica.processes().map(({ pid }) => ({ label: `replica ${i + 1}`, pid }))),
    stop,
  };
}

function redisVersion(): string {
  const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
  return /v=(\S+)/.exec(out)?.[1] ?? '?';
}

/** This relay, compiled (buildRelay) and run with the image's Node flags, its HTTP upstream off. */
export async function startOurRelay(extraEnv: Record<string, string> = {}): Promise<RelayUnderTest> {
  const port = await findFreePort();
  const { TOKENPLACE_RELAY_UPSTREAM_URL: _upstream, ...env } = process.env;
  const child = launch(
    process.execPath,
    [...IMAGE_NODE_FLAGS, COMPILED_MAIN],
    {
      ...PROTOCOL_ENV,
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: String(port),
      TOKENPLACE_RELAY_DRAIN_SECONDS: '0',
      NODE_ENV: 'production',
      ...extraEnv,
    },
    env,
  );
  const origin = `http://127.0.0.1:${port}`;
  await ready(child, origin);
  return {
    name: `this relay (Node, ${IMAGE_NODE_FLAGS.join(' ') || 'no flags'})`,
    origin,
    processes: () => [{ label: 'node', pid: child.pid as number }],
    stop: () => terminate(child),
  };
}

const stderrTails = new WeakMap<ChildProcess, string>();

/** Starts a relay with its logs discarded (both log a line per request), keeping stderr's tail for errors. */
function launch(
  command: string,
  args: string[],
  extra: Record<string, string>,
  base: NodeJS.ProcessEnv = process.env,
): ChildProcess {
  const child = spawn(command, args, { env: { ...base, ...extra }, stdio: ['ignore', 'ignore', 'pipe'] });
  stderrTails.set(child, '');
  child.stderr?.on('data', (chunk: Buffer) => stderrTails.set(child, `${stderrTails.get(child)}${chunk}`.slice(-2000)));
  process.on('exit', () => child.kill('SIGKILL'));
  return child;
}

async function ready(child: ChildProcess, origin: string): Promise<void> {
  let onExit: ((code: number | null) => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = (code) => reject(new Error(`exited with ${code} before answering:\n${stderrTails.get(child)}`));
    child.once('exit', onExit);
  });
  try {
    await Promise.race([waitForHttp(`${origin}/healthz`, 30_000), exited]);
  } finally {
    if (onExit) child.off('exit', onExit);
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
