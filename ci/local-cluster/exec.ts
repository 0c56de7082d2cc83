/** Running the programs the local cluster is made of: captured for checks, or streamed for long builds. */
import { spawn } from 'node:child_process';
import type { CommandOutput } from '../src/cluster/judge.ts';

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** false streams the program's output to stderr instead of returning it. */
  capture?: boolean;
  input?: string;
  timeoutMs?: number;
}

export type Exec = (command: string, args: readonly string[], options?: ExecOptions) => Promise<CommandOutput>;

export const exec: Exec = (command, args, options = {}) =>
  new Promise<CommandOutput>((done) => {
    const capture = options.capture ?? true;
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      // Streamed output goes to stderr, so stdout stays the run's summary.
      stdio: [options.input === undefined ? 'ignore' : 'pipe', capture ? 'pipe' : 2, capture ? 'pipe' : 2],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            stderr += `\n${command}: killed after ${options.timeoutMs} ms`;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      done({ exitCode: 127, stdout, stderr: `${command}: ${error.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ exitCode: code ?? 1, stdout, stderr });
    });
  });

/** Runs the command and throws an Error naming `what` and the output's last lines when it fails. */
export async function must(
  what: string,
  command: string,
  args: readonly string[],
  options?: ExecOptions,
  run: Exec = exec,
): Promise<CommandOutput> {
  const out = await run(command, args, options);
  if (out.exitCode !== 0) {
    const detail = `${out.stdout}\n${out.stderr}`.trim().split('\n').slice(-12).join('\n');
    throw new Error(`${what} failed (${command} ${args.join(' ')} exited ${out.exitCode})${detail ? `:\n${detail}` : ''}`);
  }
  return out;
}
