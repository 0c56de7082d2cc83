import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  /** Killed (SIGKILL) after this long; the result then has code -1. */
  timeoutMs?: number;
}

/** Runs a program to completion and collects its output; never throws for a non-zero exit. */
export function runCommand(command: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    const finish = (code: number, extra = '') => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8') + extra,
      });
    };
    child.once('error', (err) => finish(-1, `\n${err.message}`));
    child.once('close', (code, signal) => finish(code ?? -1, signal ? `\nkilled by ${signal}` : ''));
  });
}

export class CommandError extends Error {
  readonly result: CommandResult;
  constructor(description: string, result: CommandResult) {
    super(`${description} failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().slice(-4000)}`);
    this.name = 'CommandError';
    this.result = result;
  }
}

/** Like runCommand, but a non-zero exit is an error naming the command. */
export async function mustRun(command: string, args: readonly string[], options: CommandOptions = {}): Promise<string> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) throw new CommandError(`${command} ${args.slice(0, 3).join(' ')}`, result);
  return result.stdout;
}
