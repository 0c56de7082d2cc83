/** chart/README.md's values table, values.yaml's comments and values.schema.json itself. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CHART_DIR, HTTP_UPSTREAM_VALUES, type Values } from './render.ts';

const require = createRequire(import.meta.url);
const GENERATOR = require.resolve('@bitnami/readme-generator-for-helm/bin/index.js');

async function generateReadme(valuesPath: string, readmePath: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [GENERATOR, '--values', valuesPath, '--readme', readmePath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

function merge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const current = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && current && typeof current === 'object' && !Array.isArray(current)
        ? merge(current as Values, v as Values)
        : v;
  }
  return out;
}

let scratch: string;
let valuesText: string;
let defaults: Values;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'relay-chart-docs-'));
  valuesText = await readFile(join(CHART_DIR, 'values.yaml'), 'utf8');
  defaults = parse(valuesText) as Values;
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('chart/README.md', () => {
  it('has the values table readme-generator-for-helm makes from values.yaml (run `npm run chart:readme`)', async () => {
    const copy = join(scratch, 'README.md');
    await copyFile(join(CHART_DIR, 'README.md'), copy);
    const result = await generateReadme(join(CHART_DIR, 'values.yaml'), copy);
    expect(result.output).toContain('Metadata is correct!');
    expect(result.code).toBe(0);
    expect(await readFile(copy, 'utf8')).toBe(await readFile(join(CHART_DIR, 'README.md'), 'utf8'));
  });

  it('the generator refuses a values key without its @param comment', async () => {
    const values = join(scratch, 'values-undocumented.yaml');
    await writeFile(values, `${valuesText}\nundocumentedKey: 1\n`);
    const copy = join(scratch, 'README-undocumented.md');
    await copyFile(join(CHART_DIR, 'README.md'), copy);
    const result = await generateReadme(values, copy);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('Missing metadata for key: undocumentedKey');
  });

  it('every `[default: ...]` shown for a label map is the map values.yaml really holds', () => {
    const overrides = [...valuesText.matchAll(/## @param (\S+) \[[^\]]*default: ([^\]]+)\]/g)];
    expect(overrides.length).toBeGreaterThan(0);
    for (const [, path, shown] of overrides) {
      const value = path.split('.').reduce<unknown>((node, part) => (node as Values)[part], defaults) as Record<string, string>;
      const actual = Object.entries(value)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      expect(shown, path).toBe(actual);
    }
  });

  it('documents the install, upgrade and verify commands and the resource and ulimit reasoning', async () => {
    const readme = await readFile(join(CHART_DIR, 'README.md'), 'utf8');
    expect(readme).toContain('helm upgrade --install relay ./chart -n tokenplace --create-namespace');
    expect(readme).toContain('helm test relay -n tokenplace');
    expect(readme).toContain('docs/benchmarks.md');
    expect(readme).toContain("Kubernetes cannot set a container's `ulimit`");
    expect(readme).toContain('`env.maxConnections` (`TOKENPLACE_RELAY_MAX_CONNECTIONS`)');
  });
});

describe('values.schema.json', () => {
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
  let validate: ReturnType<Ajv['compile']>;

  beforeAll(async () => {
    validate = ajv.compile(JSON.parse(await readFile(join(CHART_DIR, 'values.schema.json'), 'utf8')));
  });

  it('is a well-formed draft-07 schema under ajv strict mode, closed at every level', async () => {
    const schema = JSON.parse(await readFile(join(CHART_DIR, 'values.schema.json'), 'utf8'));
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    const open: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      // An object schema must either list its properties and forbid others, or be a typed map.
      if (n.properties && !n.$ref && n.additionalProperties === undefined && !path.includes('/allOf/')) open.push(path);
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    walk(schema, '#');
    expect(open.filter((p) => !/\/(liveness|startup)$/.test(p))).toEqual([]);
  });

  it('accepts the defaults alone, the defaults with the HTTP upstream, and each example file', async () => {
    expect(validate(defaults), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(merge(defaults, HTTP_UPSTREAM_VALUES)), JSON.stringify(validate.errors)).toBe(true);
    for (const file of [
      'relay-family.values.yaml',
      'relay-personal.values.yaml',
      'tokenplace-relay.values.dev.yaml',
      'tokenplace-relay.values.staging.yaml',
    ]) {
      const example = parse(await readFile(join(CHART_DIR, '..', 'docs', 'examples', file), 'utf8')) as Values;
      expect(validate(merge(defaults, example)), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('rejects the HTTP upstream switched on alone: the GPU host and its CIDR are then required', () => {
    expect(validate(merge(defaults, { env: { upstream: { enabled: true } } }))).toBe(false);
    const paths = (validate.errors ?? []).map((e) => e.instancePath);
    expect(paths).toContain('/gpuExternalName/host');
    expect(paths).toContain('/networkPolicy/gpuServer/cidrs');
  });
});
