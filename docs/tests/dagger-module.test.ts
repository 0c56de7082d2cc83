/**
 * The Dagger module as a user sees it in `dagger functions` and `dagger call --help`, read by the
 * SDK's own introspector (see dagger-module.ts). This is what the engine would register; the docs'
 * `dagger call` lines are checked against the same reading (docs-consistency.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SOURCE_IGNORE } from '../../ci/src/project.ts';
import { type DaggerFunction, type DaggerModuleView, introspectModule, kebab } from './dagger-module.ts';
import { REPO_ROOT } from './repo-facts.ts';

let module: DaggerModuleView;
const fn = (name: string): DaggerFunction => {
  const found = module.functions.find((f) => f.cliName === name);
  if (!found) throw new Error(`no function ${name}`);
  return found;
};
const flags = (name: string) => fn(name).params.map((p) => p.flag);
const required = (name: string) =>
  fn(name)
    .params.filter((p) => !p.optional)
    .map((p) => p.flag);

beforeAll(async () => {
  module = await introspectModule();
}, 60_000);

describe('the SDK introspector', () => {
  it('is the pinned SDK, the same version as the engine in dagger.json', () => {
    const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    const daggerJson = JSON.parse(readFileSync(join(REPO_ROOT, 'dagger.json'), 'utf8'));
    expect(module.sdkVersion).toBe(rootPackage.devDependencies['@dagger.io/dagger']);
    expect(daggerJson.engineVersion).toBe(`v${module.sdkVersion}`);
  });

  it('finds the main object named after the module, with its description', () => {
    expect(module.className).toBe('TokenplaceRelay');
    expect(module.description).toMatch(/^The tokenplace-relay pipeline/);
  });
});

describe('dagger functions', () => {
  it('lists the eight functions, in source order', () => {
    expect(module.functions.map((f) => f.cliName)).toEqual(['build', 'lint', 'unit', 'chart', 'smoke', 'e2e', 'test', 'publish']);
    for (const f of module.functions) expect(f.description, f.name).not.toBe('');
  });

  it('marks the stages as checks for `dagger check`, not the aggregate test nor build/publish', () => {
    expect(module.functions.filter((f) => f.isCheck).map((f) => f.cliName)).toEqual(['lint', 'unit', 'chart', 'smoke', 'e2e']);
    // A check is run with no arguments: none may be required.
    for (const f of module.functions.filter((f) => f.isCheck)) expect(required(f.cliName), f.name).toEqual([]);
  });

  it('never caches what talks to services or registries; caches the pure stages', () => {
    const never = module.functions.filter((f) => f.cache === 'never').map((f) => f.cliName);
    expect(never).toEqual(['smoke', 'e2e', 'test', 'publish']);
    for (const name of ['build', 'lint', 'unit', 'chart']) expect(fn(name).cache, name).toBeUndefined();
  });

  it('returns a container from build and text from everything else', () => {
    expect(fn('build').returnKind).toBe('OBJECT_KIND');
    for (const f of module.functions.filter((f) => f.name !== 'build')) expect(f.returnKind, f.name).toBe('STRING_KIND');
  });

  it('takes the repository from the module root with the shared ignore list, and git from the same checkout', () => {
    for (const f of module.functions) {
      const [source, ...rest] = f.params;
      expect(source, f.name).toMatchObject({ flag: '--source', typeName: 'Directory', defaultPath: '/', ignore: SOURCE_IGNORE });
      const git = rest.find((p) => p.flag === '--git');
      if (git) expect(git, f.name).toMatchObject({ typeName: 'GitRepository', defaultPath: '/', optional: true });
    }
    expect(SOURCE_IGNORE).toEqual(['**/node_modules', '.git', 'dist', 'coverage', '.tools', 'ci/sdk']);
  });

  it('shows build and publish flags as the CLI names them, with the defaults a user sees', () => {
    expect(flags('build')).toEqual(['--source', '--git', '--platform', '--ref', '--sha', '--created', '--source-url']);
    expect(required('build')).toEqual([]);
    expect(flags('publish')).toEqual([
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
    expect(required('publish')).toEqual(['--repository', '--username', '--password']);
    const publish = Object.fromEntries(fn('publish').params.map((p) => [p.name, p]));
    expect(publish.password).toMatchObject({ kind: 'OBJECT_KIND', typeName: 'Secret' });
    expect(publish.registry).toMatchObject({ kind: 'STRING_KIND', defaultValue: 'ghcr.io', optional: true });
    expect(publish.withChart).toMatchObject({ kind: 'BOOLEAN_KIND', boolean: true, defaultValue: true });
    expect(publish.repository.description).toMatch(/owner\/name/);
  });

  it('names CLI flags with the engine’s kebab-case', () => {
    expect(kebab('sourceUrl')).toBe('--source-url'.slice(2));
    expect(kebab('withChart')).toBe('with-chart');
    expect(kebab('e2e')).toBe('e2e');
    expect(kebab('HTTPServer')).toBe('http-server');
  });
});
