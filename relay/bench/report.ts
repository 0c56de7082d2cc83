import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Replaces (or appends) the "## title" section of a Markdown file, leaving the other sections alone. */
export function replaceSection(file: string, title: string, body: string): void {
  const heading = `## ${title}`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = current.indexOf(`${heading}\n`);
  const section = `${heading}\n\n${body.trim()}\n`;
  if (start === -1) {
    writeFileSync(file, `${current.trimEnd()}\n\n${section}`);
  } else {
    const next = current.indexOf('\n## ', start + heading.length);
    const rest = next === -1 ? '' : current.slice(next + 1);
    writeFileSync(file, `${current.slice(0, start)}${section}${rest ? `\n${rest}` : ''}`);
  }
  // The repository's Markdown is Biome-formatted (tables padded); written tables are padded the same way.
  const biome = fileURLToPath(new URL('../../node_modules/.bin/biome', import.meta.url));
  execFileSync(biome, ['format', '--write', file], { stdio: 'ignore' });
}
