/** relay/src is a pure fetch-handler core: it runs on any fetch runtime, so it imports nothing from Node. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

describe('relay/src', () => {
  const files = readdirSync(SRC).filter((name) => name.endsWith('.ts'));

  it.each(files)('%s imports only relay/src modules and runtime-neutral packages, and uses no Node globals', (name) => {
    const text = readFileSync(join(SRC, name), 'utf8');
    const imports = [...text.matchAll(/^import[^;]*?from '([^']+)';/gms)].map((match) => match[1]);
    for (const specifier of imports) {
      expect(specifier.startsWith('./') || specifier === 'itty-router', `${name} imports ${specifier}`).toBe(true);
    }
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(code).not.toMatch(/\b(process|Buffer|require|__dirname|global)\b\s*[.(]/);
  });
});
