import { describe, expect, it } from 'vitest';
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
});
