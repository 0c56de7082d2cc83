/**
 * Every chart value key, environment variable and `dagger call` the documents name must exist in the
 * repository: values in chart/values.yaml, variables among the relay's SETTINGS or set by the chart
 * or the image, functions and flags in the Dagger module (ci/src/index.ts).
 */
import { access, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMPUTE_NODE_ENV, tokenplaceCheckout } from './compute-node-env.ts';
import { type DocFile, docFiles } from './doc-files.ts';
import {
  checkValuesPath,
  daggerCallProblems,
  documentCommands,
  envRefs,
  parseDaggerCall,
  prose,
  unknownSnippetKeys,
  valuesKeyRefs,
  valuesSnippets,
} from './doc-refs.ts';
import { type Json, REPO_ROOT, type RepoFacts, repoFacts, repoPath } from './repo-facts.ts';

/**
 * Keys the documents may name although values.yaml lacks them, each with the reason. An entry must
 * describe a real, documented defect; the test below fails once the defect is gone, so the entry
 * cannot outlive it.
 */
const KNOWN_MISSING_KEYS: Record<string, { reason: string; stillIn: string }> = {};

let facts: RepoFacts;
let docs: DocFile[];
let topKeys: Set<string>;

beforeAll(async () => {
  facts = await repoFacts();
  docs = await docFiles();
  topKeys = new Set(Object.keys(facts.values));
});

function knownEnv(name: string): boolean {
  return facts.settings.has(name) || facts.chartEnv.has(name) || facts.imageEnv.has(name) || name in COMPUTE_NODE_ENV;
}

function valuesProblems(doc: DocFile): string[] {
  const problems: string[] = [];
  for (const ref of valuesKeyRefs(doc.text, topKeys)) {
    const key = ref.value.join('.');
    if (KNOWN_MISSING_KEYS[key]) continue;
    const check = checkValuesPath(ref.value, facts.values, facts.schema);
    if (!check.ok) problems.push(`${doc.path}:${ref.line}: ${key}: ${check.reason}`);
  }
  for (const snippet of valuesSnippets(doc.text, topKeys)) {
    for (const problem of unknownSnippetKeys(snippet.values, facts.values, facts.schema)) {
      problems.push(`${doc.path}:${snippet.line}: values block: ${problem}`);
    }
  }
  return problems;
}

function envProblems(doc: DocFile): string[] {
  const all = [...facts.settings, ...facts.chartEnv, ...facts.imageEnv, ...Object.keys(COMPUTE_NODE_ENV)];
  return envRefs(doc.text)
    .filter(({ value }) => (value.prefix ? !all.some((name) => name.startsWith(value.name)) : !knownEnv(value.name)))
    .map(
      ({ value, line }) =>
        `${doc.path}:${line}: ${value.name}${value.prefix ? '*' : ''} is not a relay setting, nor set by the chart or image, nor a compute-node variable`,
    );
}

function daggerProblems(doc: DocFile): string[] {
  const problems: string[] = [];
  for (const command of documentCommands(doc.text)) {
    const call = parseDaggerCall(command.value, facts.dagger);
    if (!call) continue;
    for (const problem of daggerCallProblems(call, facts.dagger, { requireArguments: command.fenced })) {
      problems.push(`${doc.path}:${command.line}: ${problem}`);
    }
  }
  return problems;
}

describe('the documents', () => {
  it('are the README, the chart README and everything under docs/', () => {
    const paths = docs.map((d) => d.path);
    expect(paths).toContain('README.md');
    expect(paths).toContain('chart/README.md');
    for (const path of [
      'docs/relay-deploy.md',
      'docs/sugarkube.md',
      'docs/acceptance.md',
      'docs/prompts/codex/tokenplace-relay.md',
      'docs/pipeline.md',
    ]) {
      expect(paths).toContain(path);
    }
  });

  it('name only chart values that exist in chart/values.yaml', () => {
    expect(docs.flatMap(valuesProblems)).toEqual([]);
  });

  it('name only environment variables the relay reads or the chart or image sets', () => {
    expect(docs.flatMap(envProblems)).toEqual([]);
  });

  it('call only Dagger functions of the module, with its parameters (kebab-case) and every required one', () => {
    expect(docs.flatMap(daggerProblems)).toEqual([]);
  });

  it('really contain what these checks look for (the extraction is not vacuous)', () => {
    const text = docs.map((d) => d.text).join('\n');
    const keys = new Set(valuesKeyRefs(text, topKeys).map((r) => r.value.join('.')));
    for (const key of [
      'gpuExternalName.host',
      'gpuExternalName.port',
      'gpuExternalName.headless.enabled',
      'networkPolicy.gpuServer.cidrs',
    ]) {
      expect(keys).toContain(key);
    }
    const env = new Set(envRefs(text).map((r) => r.value.name));
    for (const name of ['RELAY_PORT', 'TOKENPLACE_RELAY_UPSTREAM_URL', 'TOKEN_PLACE_RELAY_SERVER_TOKEN'])
      expect(env).toContain(name);
    const calls = docs.flatMap((d) => documentCommands(d.text)).flatMap((c) => parseDaggerCall(c.value, facts.dagger) ?? []);
    const called = new Set(calls.map((c) => c.fn));
    for (const fn of ['test', 'build', 'publish']) expect(called).toContain(fn);
    expect(calls.filter((c) => c.fn === 'publish').flatMap((c) => c.flags)).toContain('--password');
  });
});

describe('compute-node variables the documents name', () => {
  const checkout = tokenplaceCheckout();
  it.skipIf(checkout === undefined)("are read by token.place's own code", async () => {
    for (const [name, file] of Object.entries(COMPUTE_NODE_ENV)) {
      expect(await readFile(join(checkout as string, file), 'utf8'), `${file} reads ${name}`).toContain(`'${name}'`);
    }
  });
});

describe('known gaps between the documents and values.yaml', () => {
  it('each is still a gap, and still where its reason says', async () => {
    for (const [key, { stillIn }] of Object.entries(KNOWN_MISSING_KEYS)) {
      expect(
        checkValuesPath(key.split('.'), facts.values, facts.schema).ok,
        `${key} now exists: drop it from KNOWN_MISSING_KEYS`,
      ).toBe(false);
      expect(
        await readFile(repoPath(stillIn), 'utf8'),
        `${stillIn} no longer names ${key}: drop it from KNOWN_MISSING_KEYS`,
      ).toContain(`'${key}'`);
    }
  });
});

describe('the checks catch mistakes', () => {
  const doc = (text: string): DocFile => ({ path: 'fixture.md', text });

  it('a misspelt values key, in prose, in --set and in a values block', () => {
    expect(valuesProblems(doc('Set `gpuExternalName.hots` to the GPU host.'))).toEqual([
      'fixture.md:1: gpuExternalName.hots: gpuExternalName has no key "hots"',
    ]);
    expect(valuesProblems(doc("helm upgrade relay ./chart --set 'networkPolicy.gpuServer.cidr={10.0.0.1/32}'"))).toHaveLength(1);
    expect(valuesProblems(doc('```yaml\ngpuExternalName:\n  hots: gpu.home.arpa\nenv:\n  logLevel: debug\n```\n'))).toEqual([
      'fixture.md:1: values block: gpuExternalName.hots: gpuExternalName has no key "hots"',
    ]);
    expect(valuesProblems(doc('`env.port.number`'))[0]).toContain('env.port is a number value, not a map');
    expect(valuesProblems(doc('`gpuExternalName.headless.{enabled,ipz}`'))).toHaveLength(1);
  });

  it('but not file names, host names, labels, free-form maps, lists or wildcards', () => {
    const text = [
      'Run `server.py`, open relay.example.org, label app.kubernetes.io/name, file chart/templates/service.yaml and tests.ts.',
      '`ingress.annotations.traefik.ingress.kubernetes.io/router.entrypoints`, `podAnnotations.example`, `ingress.hosts[0].host`,',
      '`networkPolicy.traefik.*`, `tests.image.*`, `gpuExternalName.headless.{enabled,ips}`, `image.tag=1.2.3`, {{ .Values.whatever.key }}',
      '```yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n```',
      '```yaml\nnetworkPolicy:\n  traefik:\n    namespaceSelector:\n      kubernetes.io/metadata.name: kube-system\n```',
    ].join('\n');
    expect(valuesProblems(doc(text))).toEqual([]);
  });

  it('an environment variable that no one reads or sets', () => {
    expect(
      envProblems(doc('Set TOKENPLACE_RELAY_UPSTREAM_URLS and `RELAY_PORT`, `TOKENPLACE_RELAY_*`, TOKEN_PLACE_NOPE_*.')),
    ).toEqual([
      'fixture.md:1: TOKENPLACE_RELAY_UPSTREAM_URLS is not a relay setting, nor set by the chart or image, nor a compute-node variable',
      'fixture.md:1: TOKEN_PLACE_NOPE_* is not a relay setting, nor set by the chart or image, nor a compute-node variable',
    ]);
  });

  it('a dagger call of a missing function, a wrong flag, or without a required argument', () => {
    const problems = daggerProblems(
      doc(
        [
          '```sh',
          'dagger call publsh',
          'dagger call publish --repository=o/r --username=u --pasword=env://GITHUB_TOKEN',
          'dagger call publish --username=u \\',
          '  --password=env://GITHUB_TOKEN',
          'dagger call build --platform linux/arm64 export --path=x.tar   # chained: export is not checked',
          'dagger -m . call --progress plain test',
          '```',
          'Inline `dagger call smoke --sourceUrl=x` is checked for names; `dagger call publish` need not list arguments.',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^fixture\.md:2: dagger call publsh: the module has no function publsh/),
      expect.stringMatching(/^fixture\.md:3: dagger call publish --pasword: publish\(\) has no such parameter/),
      'fixture.md:3: dagger call publish: --password is required',
      'fixture.md:4: dagger call publish: --repository is required',
      expect.stringMatching(/^fixture\.md:9: dagger call smoke --sourceUrl: smoke\(\) has no such parameter/),
    ]);
  });

  it('reads the module the way the Dagger CLI names it (through the SDK introspector, see dagger-module.test.ts)', () => {
    const publish = facts.dagger.get('publish');
    expect(publish?.params.map((p) => p.flag)).toEqual([
      '--source',
      '--git',
      '--repository',
      '--username',
      '--password',
      '--registry',
      '--ref',
      '--sha',
      '--created',
      '--source-url',
      '--with-chart',
    ]);
    expect(publish?.params.filter((p) => !p.optional).map((p) => p.flag)).toEqual(['--repository', '--username', '--password']);
    expect(publish?.params.find((p) => p.flag === '--with-chart')?.boolean).toBe(true);
  });
});

describe('complete values files shown in the documents', () => {
  it('pass the chart schema together with the chart defaults', async () => {
    const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
    const validate = ajv.compile(facts.schema);
    const merge = (base: Json, over: Json): Json => {
      if (typeof base !== 'object' || base === null || Array.isArray(base)) return over;
      if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
      const out: { [key: string]: Json } = { ...base };
      for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
      return out;
    };
    let complete = 0;
    for (const doc of docs) {
      for (const snippet of valuesSnippets(doc.text, topKeys)) {
        const gpu = snippet.values.gpuExternalName;
        if (typeof gpu !== 'object' || gpu === null || Array.isArray(gpu) || !('host' in gpu)) continue;
        complete++;
        expect(
          validate(merge(facts.values, snippet.values)),
          `${doc.path}:${snippet.line}: ${JSON.stringify(validate.errors)}`,
        ).toBe(true);
      }
    }
    expect(complete).toBeGreaterThan(0);
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  return new Set([...prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)].map((m) => slug(m[1])));
}

describe('links between the documents', () => {
  it('point at files that exist and at headings they have', async () => {
    const problems: string[] = [];
    for (const doc of docs) {
      for (const [, target] of prose(doc.text).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split('#', 2);
        const path = file === '' ? join(REPO_ROOT, doc.path) : join(REPO_ROOT, dirname(doc.path), file);
        try {
          await access(path);
        } catch {
          problems.push(`${doc.path}: ${target}: no such file`);
          continue;
        }
        if (anchor && path.endsWith('.md') && !anchors(await readFile(path, 'utf8')).has(anchor)) {
          problems.push(`${doc.path}: ${target}: no heading #${anchor}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
