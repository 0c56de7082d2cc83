import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../node/logger.ts';
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
});
