/**
 * README.md is the front page: its Configuration table lists every relay setting (SETTINGS in
 * relay/src/config.ts), in order, with its real default, so a new setting cannot ship undocumented.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../relay/src/config.ts';
import { configTableProblems, type Setting } from './readme-config.ts';
import { repoPath } from './repo-facts.ts';

const settings = Object.values(SETTINGS) as Setting[];
const readme = await readFile(repoPath('README.md'), 'utf8');

describe('README.md', () => {
  it('lists every relay setting in its Configuration table, in order, with its real default', () => {
    expect(configTableProblems(readme, settings)).toEqual([]);
  });

  it('the check fails when a setting is missing, extra, out of order or has a wrong default', () => {
    const newSetting = { name: 'TOKENPLACE_RELAY_SOMETHING_NEW', fallback: 42, describe: 'A setting added later.' };
    expect(configTableProblems(readme, [...settings, newSetting])).toEqual([
      'TOKENPLACE_RELAY_SOMETHING_NEW is a relay setting but has no row (default `42`: A setting added later.)',
    ]);
    expect(configTableProblems(readme, settings.slice(1))).toEqual(['RELAY_HOST is in the table but is not a relay setting']);
    const changed = settings.map((s) => (s.name === 'RELAY_PORT' ? { ...s, fallback: 8080 } : s));
    expect(configTableProblems(readme, changed)).toEqual(['RELAY_PORT: the table says default `5010`, the relay uses `8080`']);
    expect(configTableProblems(readme, [settings[1], settings[0], ...settings.slice(2)])).toHaveLength(1);
  });

  it('shows the two commands a newcomer runs and links every guide', () => {
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
    expect(readme).toContain('```mermaid');
    for (const guide of [
      'chart/README.md',
      'docs/relay-deploy.md',
      'docs/sugarkube.md',
      'docs/pipeline.md',
      'docs/acceptance.md',
      'docs/benchmarks.md',
      'docs/prompts/codex/tokenplace-relay.md',
    ]) {
      expect(readme).toContain(`](${guide})`);
    }
  });

  it('names only scripts package.json has', async () => {
    const { scripts } = JSON.parse(await readFile(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const [, script] of readme.matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(scripts)).toContain(script);
  });
});
