/** The README's Configuration table, checked against the relay's settings. */

export interface Setting {
  name: string;
  fallback: unknown;
  describe: string;
}

/** How the table shows a default: `value` in code, or (empty). */
export function shownDefault(fallback: unknown): string {
  return fallback === '' ? '(empty)' : `\`${String(fallback)}\``;
}

function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => c.trim());
}

/** Everything that is wrong with the README's Configuration table, given the settings. */
export function configTableProblems(readme: string, settings: readonly Setting[]): string[] {
  const section = /^## Configuration\s*$([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1];
  if (section === undefined) return ['README.md has no "## Configuration" section'];
  const rows = section.split('\n').filter((line) => line.trim().startsWith('|'));
  if (rows.length < 2) return ['the Configuration section has no table'];
  const [header, separator, ...body] = rows.map(cells);
  const problems: string[] = [];
  if (header.join('|') !== 'Variable|Default|Meaning')
    problems.push(`header is ${header.join(' | ')}, not Variable | Default | Meaning`);
  if (!separator.every((c) => /^:?-{3,}:?$/.test(c))) problems.push('the second row is not a table separator');
  const listed = body.map(([variable, fallback, meaning]) => ({
    name: /^`([A-Z0-9_]+)`$/.exec(variable ?? '')?.[1] ?? variable,
    fallback,
    meaning,
  }));
  for (const setting of settings) {
    const row = listed.find((r) => r.name === setting.name);
    if (!row) {
      problems.push(
        `${setting.name} is a relay setting but has no row (default ${shownDefault(setting.fallback)}: ${setting.describe})`,
      );
      continue;
    }
    if (row.fallback !== shownDefault(setting.fallback)) {
      problems.push(`${setting.name}: the table says default ${row.fallback}, the relay uses ${shownDefault(setting.fallback)}`);
    }
    if (!row.meaning) problems.push(`${setting.name}: no meaning given`);
  }
  for (const row of listed) {
    if (!settings.some((s) => s.name === row.name)) problems.push(`${row.name} is in the table but is not a relay setting`);
  }
  const order = listed.map((r) => r.name).filter((name) => settings.some((s) => s.name === name));
  const expected = settings.map((s) => s.name).filter((name) => order.includes(name));
  if (order.join() !== expected.join()) problems.push(`rows are not in the order of SETTINGS: ${expected.join(', ')}`);
  return problems;
}
