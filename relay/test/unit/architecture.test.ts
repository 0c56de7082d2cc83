/** relay/src is a pure fetch-handler core: it runs on any fetch runtime, so it imports nothing from Node. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const files = (readdirSync(SRC, { recursive: true }) as string[]).filter((name) => name.endsWith('.ts'));

describe('relay/src', () => {
  it('has the token.place protocol in its own folder', () => {
    expect(files.filter((name) => name.startsWith('tokenplace')).length).toBeGreaterThan(5);
  });

  it.each(files)('%s imports only relay/src modules and runtime-neutral packages, and uses no Node globals', (name) => {
    const text = readFileSync(join(SRC, name), 'utf8');
    const imports = [...text.matchAll(/^import[^;]*?from '([^']+)';/gms)].map((match) => match[1]);
    for (const specifier of imports) {
      if (specifier === 'itty-router') continue;
      expect(specifier.startsWith('.'), `${name} imports ${specifier}`).toBe(true);
      const target = relative(SRC, resolve(dirname(join(SRC, name)), specifier));
      expect(target.startsWith('..'), `${name} imports ${specifier}, outside relay/src`).toBe(false);
    }
    const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    expect(code).not.toMatch(/\b(process|Buffer|require|__dirname|global)\b\s*[.(]/);
  });

  it.each(files)('%s stays under 300 lines', (name) => {
    expect(readFileSync(join(SRC, name), 'utf8').split('\n').length).toBeLessThanOrEqual(300);
  });
});
