/**
 * The cluster's processes: started detached with their output in a log file and their PID in a PID
 * file, so a later run (or `down`) stops exactly them, even after this runner crashed.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { ProcessSpec } from './components.ts';

export interface Started {
  name: string;
  pid: number;
  log: string;
}

export async function startProcess(spec: ProcessSpec, logsDir: string, pidsDir: string): Promise<Started> {
  const log = join(logsDir, `${spec.name}.log`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', fd, fd] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (error) => reject(new Error(`${spec.name}: ${error.message}`)));
      child.once('spawn', () => resolve(child.pid as number));
    });
    child.unref();
    await writeFile(join(pidsDir, `${spec.name}.pid`), `${pid}\n${spec.program ?? spec.command}\n`);
    return { name: spec.name, pid, log };
  } finally {
    closeSync(fd);
  }
}

/** SIGKILL, ignoring a process that is gone already. */
export function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The last lines of a log, for error messages. */
export async function logTail(log: string, lines = 25): Promise<string> {
  try {
    return (await readFile(log, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits until the process answers its readiness check; fails at once, with its log, when it exits. */
export async function waitReady(spec: ProcessSpec, started: Started, timeoutMs: number, ca?: Buffer): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ready = spec.ready;
  while (Date.now() < deadline) {
    if (!alive(started.pid)) throw new Error(`${spec.name} exited while starting; its log:\n${await logTail(started.log)}`);
    if (!ready) return;
    if ('socket' in ready ? existsSync(ready.socket) : await answers(ready.url, ca)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${spec.name} not ready after ${timeoutMs / 1000} s; its log:\n${await logTail(started.log)}`);
}

/** Whether a GET answers 200; HTTPS is verified against the cluster's CA. */
function answers(url: string, ca?: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(url, { timeout: 2_000, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Whether the PID still runs the command the PID file names (a PID may have been reused since). */
async function runs(pid: number, command: string): Promise<boolean> {
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0];
    return cmdline === command || cmdline.endsWith(`/${command}`) || command.endsWith(`/${cmdline}`);
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; returns a line per process that would not stop. */
export async function stopByPidFile(pidsDir: string, name: string, graceMs = 10_000): Promise<string | undefined> {
  const file = join(pidsDir, `${name}.pid`);
  if (!existsSync(file)) return undefined;
  const [pidText, command = ''] = (await readFile(file, 'utf8')).split('\n');
  const pid = Number(pidText);
  if (Number.isInteger(pid) && pid > 1 && (await runs(pid, command))) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    if (alive(pid)) {
      process.kill(pid, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (alive(pid)) return `${name} (pid ${pid}) did not stop`;
  }
  await rm(file, { force: true });
  return undefined;
}

export async function pidFileNames(pidsDir: string): Promise<string[]> {
  if (!existsSync(pidsDir)) return [];
  return (await readdir(pidsDir)).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4));
}

/** PIDs of processes whose command line contains `needle` (containerd's shims, found by its socket path). */
export async function pidsMatching(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cmdline.includes(needle) && Number(entry) !== process.pid) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}
