import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, formatMilliseconds } from '../../node/logger.ts';
import type { RequestLine } from '../../src/access-log.ts';

/** A destination that keeps what it is given. */
function memory(): { write(line: string): void; lines: string[] } {
  const lines: string[] = [];
  return { write: (line) => void lines.push(line), lines };
}

const FULL: RequestLine = {
  method: 'POST',
  route: 'proxy',
  path: '/v1/chat/completions',
  query: '?model=a%22b&key=REDACTED',
  status: 502,
  durationMs: 12.34,
  requestId: 'id-"quoted"\\',
  upstream: 'http://gpu-server:8000',
  upstreamStatus: 200,
  bytes: 0,
  error: 'reset: socket hang up\nsecond line \u2028 \ud800',
};

describe('the access log', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ['every field, with characters JSON must escape', FULL],
    ['only the fields every line has', { method: 'GET', route: 'livez', path: '/livez', query: '', status: 200, durationMs: 0 }],
  ] as [string, RequestLine][])('writes the line pino would write: %s', (_name, line) => {
    const fast = memory();
    const viaPino = memory();
    const a = createLogger('debug', fast);
    const b = createLogger('debug', viaPino);
    a.accessLog.write('warn', line);
    b.logger.warn(line, 'request');
    expect(fast.lines).toHaveLength(1);
    const withoutTime = (text: string) => text.replace(/"time":"[^"]+"/, '"time":""');
    expect(withoutTime(fast.lines[0] as string)).toBe(withoutTime(viaPino.lines[0] as string));
    expect(JSON.parse(fast.lines[0] as string)).toMatchObject({ ...line, level: 'warn', msg: 'request' });
  });

  it('drops lines below the level, and says so before a line is built', () => {
    const out = memory();
    const { accessLog } = createLogger('info', out);
    expect(accessLog.enabled('debug')).toBe(false);
    expect(accessLog.enabled('info')).toBe(true);
    accessLog.write('debug', FULL);
    expect(out.lines).toEqual([]);
    accessLog.write('info', FULL);
    expect(out.lines).toHaveLength(1);
  });

  it('stamps every line with the time Date#toISOString gives, across milliseconds, seconds and days', () => {
    const out = memory();
    const { logger } = createLogger('info', out);
    const instants = [
      Date.UTC(2026, 11, 2, 13, 59, 59, 998),
      Date.UTC(2026, 11, 2, 13, 59, 59, 998),
      Date.UTC(2026, 11, 2, 13, 59, 59, 999),
      Date.UTC(2026, 11, 2, 14, 0, 0, 0),
      Date.UTC(2026, 11, 2, 14, 0, 0, 7),
      Date.UTC(2026, 11, 2, 14, 0, 0, 42),
      Date.UTC(2026, 11, 2, 23, 59, 59, 999),
      Date.UTC(2026, 11, 3, 0, 0, 0, 100),
    ];
    const clock = vi.spyOn(Date, 'now');
    for (const at of instants) {
      clock.mockReturnValueOnce(at);
      logger.info('tick');
    }
    expect(out.lines.map((line) => JSON.parse(line).time)).toEqual(instants.map((at) => new Date(at).toISOString()));
  });

  it('prints durations as JavaScript prints the number, from whole hundredths of a millisecond', () => {
    const differing: number[] = [];
    for (let hundredths = 0; hundredths <= 300_000; hundredths++) {
      const value = hundredths / 100;
      if (formatMilliseconds(value) !== `${value}`) differing.push(value);
    }
    expect(differing).toEqual([]);
    for (const value of [123456789.01, 99999999999.99, 0.001, 1 / 3, 2.675, -1, Number.NaN, 1e21]) {
      expect(formatMilliseconds(value)).toBe(`${value}`);
    }
  });

  it('writes every line to stdout once, in order, batches and lines longer than a batch alike', () => {
    const logger = fileURLToPath(new URL('../../node/logger.ts', import.meta.url));
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger('info');
      const line = (i) => ({ method: 'GET', route: 'proxy', path: '/p/' + i + '/\u00e9\u4e2d\ud83d\ude00', query: '', status: 200, durationMs: i / 100 });
      for (let i = 0; i < 2000; i++) log.accessLog.write('info', line(i));
      log.logger.info({ big: 'x'.repeat(100_000) }, 'long');
      for (let i = 2000; i < 2100; i++) log.accessLog.write('info', line(i));
      log.flushSync();
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const lines = out
      .trimEnd()
      .split('\n')
      .map((text) => JSON.parse(text));
    expect(lines).toHaveLength(2101);
    const paths = lines.filter((line) => line.msg === 'request').map((line) => line.path);
    expect(paths).toEqual(Array.from({ length: 2100 }, (_, i) => `/p/${i}/\u00e9\u4e2d\ud83d\ude00`));
    expect(lines[2000]).toMatchObject({ msg: 'long', big: 'x'.repeat(100_000) });
    expect(lines[1999].durationMs).toBe(19.99);
  });
});
