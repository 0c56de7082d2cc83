import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../src/config.ts';
import { normalizeTables, README, settingsTable, withSettingsTable } from '../../tools/settings-table.ts';

describe('README.md configuration table', () => {
  const readme = readFileSync(README, 'utf8');

  it('is the table generated from SETTINGS (run `npm run readme:settings`)', () => {
    expect(normalizeTables(readme)).toBe(normalizeTables(withSettingsTable(readme)));
  });

  it('ignores only column padding when comparing', () => {
    expect(normalizeTables('| a   | b |\n| --- | ------ |\n| `x\\|y` |  1 |')).toBe('|a|b|\n|---|---|\n|`x\\|y`|1|');
    expect(normalizeTables('| a | b |')).not.toBe(normalizeTables('| a | c |'));
  });

  it('lists every setting once, with its default', () => {
    const table = settingsTable();
    for (const setting of Object.values(SETTINGS)) {
      expect(table.match(new RegExp(`^\\| \`${setting.name}\` \\|`, 'gm')), setting.name).toHaveLength(1);
    }
    expect(table).toContain('| `TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY` | `4` |');
    expect(table).toContain('| `TOKENPLACE_RELAY_MAX_CONNECTIONS` | derived from the open-file limit and memory |');
  });
});
