import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runRelayToExit, stopAllRelays } from '../helpers/relay-process.ts';

afterAll(stopAllRelays);

describe('a bad setting stops the real process with one line naming it', () => {
  // One case per kind of check; the unit tests of config.ts cover the full range of values.
  const cases: [string, Record<string, string>][] = [
    ['RELAY_PORT', { RELAY_PORT: 'abc' }],
    ['TOKENPLACE_RELAY_UPSTREAM_URL', { TOKENPLACE_RELAY_UPSTREAM_URL: 'gpu-server:8000' }],
    ['TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS', { TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS: '-5' }],
    ['TOKENPLACE_RELAY_DRAIN_SECONDS', { TOKENPLACE_RELAY_DRAIN_SECONDS: '-1' }],
    ['TOKENPLACE_RELAY_LOG_LEVEL', { TOKENPLACE_RELAY_LOG_LEVEL: 'verbose' }],
    // Refused before any DNS lookup, not by listen failing on it.
    ['RELAY_HOST', { RELAY_HOST: '999.1.1.1' }],
    ['RELAY_HOST', { RELAY_HOST: '::1::' }],
    // Tokens no header could carry can never match.
    ['TOKEN_PLACE_RELAY_SERVER_TOKEN', { TOKEN_PLACE_RELAY_SERVER_TOKEN: 'two words' }],
    ['TOKEN_PLACE_RELAY_SERVER_TOKENS', { TOKEN_PLACE_RELAY_SERVER_TOKENS: 'good-token,t\u00f6ken' }],
    ['TOKENPLACE_METRICS_TOKEN', { TOKENPLACE_METRICS_TOKEN: 'm\u00e9trics' }],
  ];

  const SERVER_TOKEN = 'tok-9f8e7d6c5b4a';

  it.each(cases)('%s (%o)', async (variable, env) => {
    // A secret is configured too: the error report must not echo it.
    const result = await runRelayToExit({ TOKEN_PLACE_RELAY_SERVER_TOKEN: SERVER_TOKEN, ...env });
    expect(result.code).toBe(2);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(lines[0]).toMatch(/^tokenplace-relay: invalid configuration: /);
    expect(result.stderr).not.toContain(SERVER_TOKEN);
    for (const value of Object.values(env)) if (/_TOKENS?$/.test(variable)) expect(result.stderr).not.toContain(value);
    // Nothing was started, so nothing is logged as if it had been.
    expect(result.stdout).toBe('');
  });
});

describe('a port already in use', () => {
  let blocker: Server | undefined;
  afterAll(() => new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve())));

  it('exits non-zero with a fatal JSON log line instead of hanging', async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) => {
      blocker?.listen(0, '127.0.0.1', () => {
        const address = blocker?.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });

    const result = await runRelayToExit({ RELAY_PORT: String(port), TOKENPLACE_RELAY_UPSTREAM_URL: 'http://127.0.0.1:9' });
    expect(result.code).toBe(1);
    const lines = result.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line));
    expect(lines.at(-1)).toMatchObject({ level: 'fatal', msg: 'could not listen' });
    expect(JSON.stringify(lines.at(-1))).toContain('EADDRINUSE');
  });
});
