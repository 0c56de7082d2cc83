/** TOKENPLACE_RELAY_STATE_URL and its password: validated at start, never logged. */
import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../../src/config.ts';
import { configErrorOf } from '../../helpers/config-error.ts';

describe('shared state settings', () => {
  it('are unset by default: the in-memory store', () => {
    const { tokenplace } = loadConfig({});
    expect(tokenplace.stateUrl).toBeUndefined();
    expect(tokenplace.statePassword).toBeUndefined();
  });

  it('accept redis://, rediss:// and their +cluster forms, and refuse anything else', () => {
    expect(loadConfig({ TOKENPLACE_RELAY_STATE_URL: 'redis+cluster://valkey-0:6379' }).tokenplace.stateUrl).toBe(
      'redis+cluster://valkey-0:6379',
    );
    const cluster = loadConfig({ TOKENPLACE_RELAY_STATE_URL: 'rediss+cluster://:s3cret@valkey-0:6380' });
    expect(JSON.stringify(describeConfig(cluster))).toContain('rediss+cluster://:***@valkey-0:6380');
    expect(loadConfig({ TOKENPLACE_RELAY_STATE_URL: 'redis://valkey:6379' }).tokenplace.stateUrl).toBe('redis://valkey:6379');
    expect(loadConfig({ TOKENPLACE_RELAY_STATE_URL: 'rediss://valkey:6380/2' }).tokenplace.stateUrl).toBe(
      'rediss://valkey:6380/2',
    );
    for (const value of ['http://valkey:6379', 'valkey:6379x', 'not a url', 'redis+sentinel://valkey:26379']) {
      const error = configErrorOf({ TOKENPLACE_RELAY_STATE_URL: value });
      expect(error.variable).toBe('TOKENPLACE_RELAY_STATE_URL');
    }
  });

  it('never show the password in the startup log', () => {
    const config = loadConfig({
      TOKENPLACE_RELAY_STATE_URL: 'redis://:s3cret-in-url@valkey:6379',
      TOKENPLACE_RELAY_STATE_PASSWORD: 's3cret-from-secret',
    });
    const described = JSON.stringify(describeConfig(config));
    expect(described).not.toContain('s3cret');
    expect(described).toContain('redis://:***@valkey:6379');
    expect(described).toContain('"statePasswordConfigured":true');
  });
});
