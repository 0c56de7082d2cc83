/**
 * Reading one environment variable as a typed setting. Every problem is a ConfigError whose
 * message names the variable, so a bad value stops the relay with one clear line.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export interface Setting<T> {
  name: string;
  fallback: T;
  describe: string;
}

/** The value with surrounding blanks removed; undefined when unset or blank. */
export function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

export function integer(env: Env, setting: Setting<number>, min: number, max: number): number {
  const value = raw(env, setting.name);
  if (value === undefined) return setting.fallback;
  if (!/^-?\d+$/.test(value)) {
    throw new ConfigError(setting.name, `expected a whole number, got ${JSON.stringify(value)}`);
  }
  const parsed = Number(value);
  if (parsed < min || parsed > max) {
    throw new ConfigError(setting.name, `must be between ${min} and ${max}, got ${value}`);
  }
  return parsed;
}

export function seconds(env: Env, setting: Setting<number>, min = 0, max = 3600): number {
  const value = raw(env, setting.name);
  if (value === undefined) return setting.fallback;
  if (!/^-?\d+(\.\d+)?$/.test(value)) {
    throw new ConfigError(setting.name, `expected a number of seconds, got ${JSON.stringify(value)}`);
  }
  const parsed = Number(value);
  if (parsed < min) {
    throw new ConfigError(
      setting.name,
      min === 0 ? `must not be negative, got ${value}` : `must be at least ${min} seconds, got ${value}`,
    );
  }
  if (parsed > max) throw new ConfigError(setting.name, `must be at most ${max} seconds, got ${value}`);
  return parsed;
}

export function boolean(env: Env, setting: Setting<boolean>): boolean {
  const value = raw(env, setting.name);
  if (value === undefined) return setting.fallback;
  const lower = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lower)) return true;
  if (['false', '0', 'no', 'off'].includes(lower)) return false;
  throw new ConfigError(setting.name, `expected true or false, got ${JSON.stringify(value)}`);
}

export function port(env: Env, setting: Setting<number>): number {
  return integer(env, setting, 1, 65535);
}

export function timeoutMs(env: Env, setting: Setting<number>): number {
  return integer(env, setting, 1, 24 * 60 * 60 * 1000);
}

/**
 * A shared secret as configured. A header carries printable ASCII only and the relay compares
 * exactly, so a token with a space or any other character could never match: refused at start.
 * The message never repeats the value.
 */
export function secret(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new ConfigError(name, 'must be printable ASCII without spaces (no header could ever carry it); the value is not shown');
  }
  return value;
}
