import { ConfigError, loadConfig } from '../../src/config.ts';

/** The ConfigError loadConfig throws for `env`; fails the test when it throws none or another error. */
export function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
