/**
 * A throwaway Redis Cluster: three masters (Debian's redis-server with --cluster-enabled yes) on
 * free loopback ports, joined by `redis-cli --cluster create`, for the tests of Cluster mode.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { assertInstalled, launch } from './redis-server.ts';

const run = promisify(execFile);
const CLI = process.env.TOKENPLACE_TEST_REDIS_CLI ?? 'redis-cli';

export interface RedisCluster {
  /** redis+cluster://127.0.0.1:<first master's port>: a seed; the client finds the other masters. */
  url: string;
  ports: number[];
  stop(): Promise<void>;
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  assertInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'relay-redis-cluster-'));
  const ports: number[] = [];
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const busPort = await freePort();
      ports.push(port);
      children.push(
        await launch(port, [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPort),
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
        ]),
      );
    }
    const nodes = ports.map((port) => `127.0.0.1:${port}`);
    await run(CLI, ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
    // Every master must agree that all slots are served before a client connects.
    for (const port of ports) {
      for (let attempt = 0; ; attempt++) {
        const { stdout } = await run(CLI, ['-p', String(port), 'cluster', 'info']);
        if (stdout.includes('cluster_state:ok')) break;
        if (attempt > 100) throw new Error(`cluster not ready on ${port}: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis+cluster://127.0.0.1:${ports[0]}`, ports, stop };
}
