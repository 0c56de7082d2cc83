import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually } from '../../helpers/async.ts';
import { freePort } from '../../helpers/ports.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** token.place's pinned peers live beside the repository (`../shared/tokenplace`) unless TOKENPLACE_PEERS_DIR says where. */
export function peersDir(): string {
  return process.env.TOKENPLACE_PEERS_DIR ?? `${REPO_ROOT}../shared/tokenplace`;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface ReferenceRelay {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** token.place's relay.py via `peer.sh relay PORT`, resolved once it answers HTTP. */
export async function startReferenceRelay(env: Record<string, string>): Promise<ReferenceRelay> {
  const peer = `${peersDir()}/peer.sh`;
  if (!existsSync(peer)) throw new Error(`token.place's peer.sh is not at ${peer}; set TOKENPLACE_PEERS_DIR`);
  const port = await freePort();
  const child = spawn('bash', [peer, 'relay', String(port)], {
    env: { ...withoutRelaySettings(process.env), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  live.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      live.delete(child);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopChild(child, exited);
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`relay.py exited with ${child.exitCode}:\n${output}`);
        return fetch(`${url}/livez`).then(
          () => true,
          () => undefined,
        );
      },
      30_000,
      'relay.py to answer HTTP',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, output: () => output, stop };
}

/** The caller's shell must not change what relay.py sees, as for our relay (see relay-process.ts). */
function withoutRelaySettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || /^(RELAY_|TOKENPLACE_|TOKEN_PLACE_|API_)/.test(name)) continue;
    kept[name] = value;
  }
  return kept;
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
