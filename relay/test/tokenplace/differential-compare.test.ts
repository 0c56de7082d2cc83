import { describe, expect, it } from 'vitest';
import { compareRuns, isAllowed, staleAllowances } from './differential/compare.ts';
import type { Observation } from './differential/run.ts';
import { bodyShape, diffShapes, formatShape, pathWithin, shapeOf } from './differential/shape.ts';

describe('shapeOf', () => {
  it('keeps keys and JSON types, never values', () => {
    expect(shapeOf({ b: 'x', a: 1.5, c: true, d: null })).toEqual(shapeOf({ a: 10, b: '', c: false, d: null }));
    expect(formatShape(shapeOf({ b: 'x', a: 1.5, c: true, d: null }))).toBe('{a: number, b: string, c: boolean, d: null}');
  });

  it('describes an array by the distinct shapes of its elements, in a fixed order', () => {
    expect(formatShape(shapeOf(['a', 'b']))).toBe('[string]');
    expect(formatShape(shapeOf([1, 'a', 2]))).toEqual(formatShape(shapeOf(['b', 3])));
    expect(formatShape(shapeOf([]))).toBe('[]');
    expect(formatShape(shapeOf([{ a: 1 }, { a: 2, b: [] }]))).toBe('[{a: number, b: []} | {a: number}]');
  });

  it('treats 10.0 and 10 alike: both parse to numbers', () => {
    expect(bodyShape('{"n": 10.0}')).toEqual(bodyShape('{"n": 10}'));
  });

  it('calls an HTML page, an empty body and broken JSON "non-json"', () => {
    expect(bodyShape('<!doctype html><title>400 Bad Request</title>')).toBe('non-json');
    expect(bodyShape('')).toBe('non-json');
    expect(bodyShape('{"a": ')).toBe('non-json');
    expect(bodyShape('"just a string"')).toBe('string');
  });
});

describe('diffShapes', () => {
  it('finds nothing between equal shapes', () => {
    expect(diffShapes(shapeOf({ a: [{ b: 1 }] }), shapeOf({ a: [{ b: 2 }, { b: 3 }] }))).toEqual([]);
  });

  it('reports a missing key, an extra key and a changed type each at its own path', () => {
    const reference = shapeOf({ error: { code: 400, message: 'x' }, cancel_token: 't' });
    const ours = shapeOf({ error: { code: 'bad_request', message: 'y', hint: 'z' } });
    expect(diffShapes(reference, ours)).toEqual([
      { where: '$.cancel_token', reference: 'string', ours: 'absent' },
      { where: '$.error.code', reference: 'number', ours: 'string' },
      { where: '$.error.hint', reference: 'absent', ours: 'string' },
    ]);
  });

  it('looks inside arrays whose elements share one shape', () => {
    expect(diffShapes(shapeOf([{ a: 1 }]), shapeOf([{ a: '1' }]))).toEqual([
      { where: '$[].a', reference: 'number', ours: 'string' },
    ]);
  });

  it('reports JSON against non-JSON at the root', () => {
    expect(diffShapes('non-json', shapeOf({ error: {} }))).toEqual([{ where: '$', reference: 'non-json', ours: '{error: {}}' }]);
  });
});

describe('pathWithin', () => {
  it('covers the path itself and what lies inside it, nothing else', () => {
    expect(pathWithin('$.error.code', '$.error')).toBe(true);
    expect(pathWithin('$.error', '$.error')).toBe(true);
    expect(pathWithin('$.items[].a', '$.items')).toBe(true);
    expect(pathWithin('$.errors', '$.error')).toBe(false);
    expect(pathWithin('status', '$')).toBe(false);
    expect(pathWithin('value $.error.code', 'value $.error')).toBe(true);
  });
});

function observation(step: string, status: number, body: unknown, headers: Record<string, string> = {}): Observation {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    step,
    request: `POST /${step}`,
    status,
    shape: bodyShape(text),
    headers: { 'access-control-allow-origin': 'absent', ...headers },
    values: { '$.status': JSON.stringify((body as { status?: unknown })?.status ?? 'absent') },
    body: text,
  };
}

describe('compareRuns and the allowlist', () => {
  const reference = [observation('one', 200, { status: 'active', n: 1.5 }), observation('two', 400, '<html>')];
  const ours = [
    observation('one', 200, { status: 'cancelled', n: 2 }, { 'access-control-allow-origin': '*' }),
    observation('two', 400, { error: { code: 400 } }),
  ];
  const differences = compareRuns(reference, ours);

  it('compares status, shape, the chosen values and headers', () => {
    expect(differences).toEqual([
      { step: 'one', where: 'value $.status', reference: '"active"', ours: '"cancelled"' },
      { step: 'one', where: 'header access-control-allow-origin', reference: 'absent', ours: '*' },
      { step: 'two', where: '$', reference: 'non-json', ours: '{error: {code: number}}' },
    ]);
  });

  it('lets through only what an entry for that step covers', () => {
    const allowlist = [{ step: 'two', where: ['$'], why: 'relay.py answers an HTML page' }];
    expect(differences.filter((difference) => !isAllowed(difference, allowlist)).map((d) => d.step)).toEqual(['one', 'one']);
    expect(isAllowed(differences[2], [{ step: 'one', where: ['$'], why: 'wrong step' }])).toBe(false);
  });

  it('names each allowed place that no difference needs any more', () => {
    const allowlist = [
      { step: 'one', where: ['value $.status', 'status'], why: 'the status code no longer differs' },
      { step: 'two', where: ['$'], why: 'still differs' },
    ];
    expect(staleAllowances(differences, allowlist)).toEqual(['one: status']);
  });

  it('refuses runs that are out of step', () => {
    expect(() => compareRuns(reference, [ours[1], ours[0]])).toThrow(/out of step/);
  });
});
