import { beforeAll, describe, expect, it } from 'vitest';
import { type BadValuesCase, SCHEMA_CASES, TEMPLATE_CASES } from './bad-values.ts';
import { findHelm, type HelmMajor, type HelmResult } from './helm-binary.ts';
import { HTTP_UPSTREAM_VALUES, helmTemplate } from './render.ts';

const MAJORS: HelmMajor[] = [4, 3];
const CASES: BadValuesCase[] = [...SCHEMA_CASES, ...TEMPLATE_CASES];

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const results = new Map<string, HelmResult>();
const key = (major: HelmMajor, name: string) => `${major}:${name}`;

beforeAll(async () => {
  const jobs = MAJORS.flatMap((major) => CASES.map((c) => ({ major, c })));
  await mapLimited(jobs, 4, async ({ major, c }) => {
    const helm = await findHelm(major);
    results.set(key(major, c.name), await helmTemplate(helm, { values: [HTTP_UPSTREAM_VALUES, c.values] }));
  });
}, 120_000);

describe('the required values alone render', () => {
  it.each(MAJORS)('under Helm %i', async (major) => {
    const result = await helmTemplate(await findHelm(major), { values: [HTTP_UPSTREAM_VALUES] });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

for (const major of MAJORS) {
  describe(`Helm ${major} refuses bad values with the reason`, () => {
    it.each(SCHEMA_CASES.map((c) => [c.name, c] as const))('schema: %s', (_name, c) => {
      const result = results.get(key(major, c.name));
      expect(result?.code).not.toBe(0);
      expect(result?.stdout).toBe('');
      expect(result?.stderr).toContain("values don't meet the specifications of the schema(s)");
      for (const part of c.expect[major]) expect(result?.stderr).toContain(part);
    });

    it.each(TEMPLATE_CASES.map((c) => [c.name, c] as const))('template check: %s', (_name, c) => {
      const result = results.get(key(major, c.name));
      expect(result?.code).not.toBe(0);
      expect(result?.stderr).toContain('execution error');
      for (const part of c.expect[major]) expect(result?.stderr).toContain(part);
    });
  });
}
