/**
 * Reads the Dagger module's functions from its TypeScript source without running it: the `@func()`
 * methods of the `@object()` class and their parameters, named as the Dagger CLI shows them
 * (kebab-case: `sourceUrl` becomes `--source-url`).
 *
 * A small scanner, not a full parser: it understands comments, strings, template literals and
 * nested brackets, which is all a method signature needs.
 */

export interface DaggerParam {
  name: string;
  /** `--kebab-case` as `dagger call` takes it. */
  flag: string;
  /** Has `?`, a default value, or a `defaultPath` in its `@argument`. */
  optional: boolean;
  /** A boolean flag takes no separate value (`--with-chart` or `--with-chart=false`). */
  boolean: boolean;
}

export interface DaggerFunction {
  name: string;
  cliName: string;
  params: DaggerParam[];
}

export function kebab(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

const CLOSERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

function skipString(text: string, start: number): number {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === '\\') i += 2;
    else if (text[i] === quote) return i + 1;
    else i++;
  }
  throw new Error(`unterminated string at ${start}`);
}

function skipTemplate(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === '\\') i += 2;
    else if (text[i] === '`') return i + 1;
    else if (text[i] === '$' && text[i + 1] === '{') i = matchingClose(text, i + 1) + 1;
    else i++;
  }
  throw new Error(`unterminated template literal at ${start}`);
}

/** Index just past a comment or string starting at i, or i when none starts there. */
function skipTrivia(text: string, i: number): number {
  if (text.startsWith('//', i)) {
    const end = text.indexOf('\n', i);
    return end < 0 ? text.length : end + 1;
  }
  if (text.startsWith('/*', i)) {
    const end = text.indexOf('*/', i + 2);
    if (end < 0) throw new Error(`unterminated comment at ${i}`);
    return end + 2;
  }
  if (text[i] === '"' || text[i] === "'") return skipString(text, i);
  if (text[i] === '`') return skipTemplate(text, i);
  return i;
}

/** Index of the bracket closing the one at `open`. */
export function matchingClose(text: string, open: number): number {
  const stack: string[] = [];
  let i = open;
  while (i < text.length) {
    const skipped = skipTrivia(text, i);
    if (skipped !== i) {
      i = skipped;
      continue;
    }
    const c = text[i];
    if (CLOSERS[c]) stack.push(CLOSERS[c]);
    else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) throw new Error(`unbalanced ${c} at ${i}`);
      if (stack.length === 0) return i;
    }
    i++;
  }
  throw new Error(`no closing bracket for ${text[open]} at ${open}`);
}

/** Splits at commas that are outside brackets, strings and comments. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const skipped = skipTrivia(text, i);
    if (skipped !== i) {
      i = skipped;
      continue;
    }
    if (CLOSERS[text[i]]) {
      i = matchingClose(text, i) + 1;
      continue;
    }
    if (text[i] === ',') {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
    i++;
  }
  parts.push(text.slice(from));
  return parts.filter((part) => part.trim() !== '');
}

function parseParam(raw: string): DaggerParam {
  let i = 0;
  let decorators = '';
  for (;;) {
    while (/\s/.test(raw[i] ?? '')) i++;
    const skipped = skipTrivia(raw, i);
    if (skipped !== i) {
      i = skipped;
      continue;
    }
    if (raw[i] === '@') {
      const name = /^@[\w$.]+\s*/.exec(raw.slice(i));
      if (!name) throw new Error(`bad decorator in ${raw}`);
      let end = i + name[0].length;
      if (raw[end] === '(') end = matchingClose(raw, end) + 1;
      decorators += raw.slice(i, end);
      i = end;
      continue;
    }
    const modifier = /^(?:public|private|protected|readonly)\s+/.exec(raw.slice(i));
    if (modifier) {
      i += modifier[0].length;
      continue;
    }
    break;
  }
  const rest = raw.slice(i);
  const head = /^([A-Za-z_$][\w$]*)\s*(\?)?\s*(?::\s*([^=]+?))?\s*(?:=\s*([\s\S]+))?\s*$/.exec(rest);
  if (!head) throw new Error(`cannot read the parameter ${JSON.stringify(raw.trim())}`);
  const [, name, question, type, fallback] = head;
  return {
    name,
    flag: `--${kebab(name)}`,
    optional: question !== undefined || fallback !== undefined || /\bdefaultPath\b/.test(decorators),
    boolean: /^boolean\b/.test(type?.trim() ?? '') || /^(true|false)$/.test(fallback?.trim() ?? ''),
  };
}

export function parseDaggerModule(source: string): { className: string; functions: DaggerFunction[] } {
  const cls = /@object\(\)\s*export\s+class\s+([A-Za-z_$][\w$]*)[^{]*\{/.exec(source);
  if (!cls) throw new Error('no `@object() export class` in the module source');
  const bodyStart = cls.index + cls[0].length - 1;
  const body = source.slice(bodyStart, matchingClose(source, bodyStart) + 1);
  const functions: DaggerFunction[] = [];
  let i = 1;
  while (i < body.length - 1) {
    const skipped = skipTrivia(body, i);
    if (skipped !== i) {
      i = skipped;
      continue;
    }
    if (!body.startsWith('@func(', i)) {
      // Method bodies and other members: jump over any bracketed block in one go.
      i = CLOSERS[body[i]] ? matchingClose(body, i) + 1 : i + 1;
      continue;
    }
    i = matchingClose(body, i + '@func'.length) + 1;
    let rest = body.slice(i);
    // Skip trivia (doc comments) between the decorator and the method.
    for (;;) {
      const trimmed = rest.replace(/^\s+/, '');
      const after = skipTrivia(trimmed, 0);
      if (after === 0) {
        rest = trimmed;
        break;
      }
      rest = trimmed.slice(after);
    }
    const head = /^(?:(?:public|async|static)\s+)*([A-Za-z_$][\w$]*)\s*(?:<[^>(]*>)?\s*\(/.exec(rest);
    if (!head) throw new Error(`@func() not followed by a method: ${rest.slice(0, 60)}`);
    const open = body.length - rest.length + head[0].length - 1;
    const close = matchingClose(body, open);
    functions.push({
      name: head[1],
      cliName: kebab(head[1]),
      params: splitTopLevel(body.slice(open + 1, close)).map(parseParam),
    });
    i = close + 1;
  }
  return { className: cls[1], functions };
}
