/**
 * Finds what a Markdown document names: chart value keys, environment variables, `dagger call`
 * invocations and shell commands, so a test can check each against the repository.
 */
import { parseAllDocuments } from 'yaml';
import type { DaggerFunction } from './dagger-module.ts';
import type { Json } from './repo-facts.ts';

export interface Fence {
  lang: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

export interface Located<T> {
  value: T;
  line: number;
}

const FENCE = /^(\s*)(`{3,}|~{3,})([^\n`]*)\n([\s\S]*?)\n\1\2[ \t]*$/gm;

export function fences(markdown: string): Fence[] {
  return [...markdown.matchAll(FENCE)].map((m) => ({
    lang: m[3].trim().split(/\s+/)[0].toLowerCase(),
    body: m[4].replace(new RegExp(`^${m[1]}`, 'gm'), ''),
    line: lineOf(markdown, m.index ?? 0),
  }));
}

/** The text outside fenced blocks (fences replaced by blank lines, so line numbers stay right). */
export function prose(markdown: string): string {
  return markdown.replace(FENCE, (block) => block.replace(/[^\n]/g, ''));
}

export function inlineCode(markdown: string): Located<string>[] {
  const text = prose(markdown);
  return [...text.matchAll(/(`+)([^`\n]+?)\1(?!`)/g)].map((m) => ({ value: m[2].trim(), line: lineOf(text, m.index ?? 0) }));
}

export function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

export const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'zsh', 'console']);

// ---------------------------------------------------------------------------------------------
// Chart value keys

/** File name endings that look like `key.ext` but are files. */
const FILE_ENDINGS = new Set([
  'yaml',
  'yml',
  'json',
  'md',
  'ts',
  'js',
  'mjs',
  'cjs',
  'txt',
  'tpl',
  'py',
  'tgz',
  'sh',
  'ps1',
  'log',
]);

/** Dotted paths that start with a top-level key of values.yaml, e.g. `gpuExternalName.host`, `ingress.*`. */
export function valuesKeyRefs(text: string, topKeys: Iterable<string>): Located<string[]>[] {
  const tops = [...topKeys].sort((a, b) => b.length - a.length).map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (tops.length === 0) return [];
  const re = new RegExp(
    `(?<![\\w./@:$\\\\-])(${tops.join('|')})((?:\\.(?:[A-Za-z_]\\w*|\\*|\\{[A-Za-z_]\\w*(?:,[A-Za-z_]\\w*)+\\})|\\[\\d+\\])+)(?![\\w/-])`,
    'g',
  );
  const refs: Located<string[]>[] = [];
  for (const m of text.matchAll(re)) {
    const line = lineOf(text, m.index ?? 0);
    const segments = [m[1], ...[...m[2].matchAll(/\.([A-Za-z_]\w*|\*|\{[^}]+\})|\[(\d+)\]/g)].map((s) => s[1] ?? `[${s[2]}]`)];
    const last = segments[segments.length - 1];
    if (FILE_ENDINGS.has(last)) continue;
    // Brace expansion: gpuExternalName.headless.{enabled,ips}
    let paths: string[][] = [[]];
    for (const segment of segments) {
      const options = /^\{(.+)\}$/.exec(segment)?.[1].split(',') ?? [segment];
      paths = paths.flatMap((p) => options.map((o) => [...p, o]));
    }
    for (const value of paths) refs.push({ value, line });
  }
  return refs;
}

type Schema = { [key: string]: Json };

function isObject(node: unknown): node is { [key: string]: Json } {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

/** A schema node with its `$ref` and `allOf` members folded in (enough to find properties). */
function resolveSchema(node: Json | undefined, root: Schema): Schema | undefined {
  if (!isObject(node)) return undefined;
  let out: Schema = { ...node };
  if (typeof node.$ref === 'string') {
    const target = node.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<Json | undefined>((n, part) => (isObject(n) ? n[part] : undefined), root);
    out = { ...(resolveSchema(target, root) ?? {}), ...out };
    delete out.$ref;
  }
  if (Array.isArray(node.allOf)) {
    for (const member of node.allOf) {
      const resolved = resolveSchema(member, root) ?? {};
      out = {
        ...resolved,
        ...out,
        properties: {
          ...(isObject(resolved.properties) ? resolved.properties : {}),
          ...(isObject(out.properties) ? out.properties : {}),
        },
      };
    }
  }
  return out;
}

export type PathCheck = { ok: true; exact: boolean } | { ok: false; reason: string };

/**
 * Whether a path names a key of values.yaml. Below a list or a free-form map (labels, annotations,
 * an empty `{}` default) any key is the user's own and accepted.
 */
export function checkValuesPath(path: readonly string[], values: Json, schema: Schema): PathCheck {
  let node: Json | undefined = values;
  let schemaNode = resolveSchema(schema, schema);
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const where = path.slice(0, i).join('.') || 'the top level';
    if (segment === '*') {
      return isObject(node) || Array.isArray(node) ? { ok: true, exact: false } : { ok: false, reason: `${where} has no keys` };
    }
    if (Array.isArray(node)) return { ok: true, exact: false };
    if (!isObject(node)) return { ok: false, reason: `${where} is a ${node === null ? 'null' : typeof node} value, not a map` };
    if (segment in node) {
      node = node[segment];
      const properties = schemaNode?.properties;
      schemaNode = resolveSchema(isObject(properties) ? properties[segment] : undefined, schema);
      continue;
    }
    const freeForm = Object.keys(node).length === 0 || (schemaNode !== undefined && schemaNode.additionalProperties !== false);
    if (freeForm && i > 0) return { ok: true, exact: false };
    return { ok: false, reason: `${where} has no key ${JSON.stringify(segment)}` };
  }
  return { ok: true, exact: true };
}

export interface ValuesSnippet {
  /** The parsed document. */
  values: { [key: string]: Json };
  line: number;
}

/**
 * YAML blocks that are chart values (mostly top-level keys of values.yaml, and no `apiVersion`/`kind`,
 * which would make them Kubernetes objects).
 */
export function valuesSnippets(markdown: string, topKeys: ReadonlySet<string>): ValuesSnippet[] {
  const out: ValuesSnippet[] = [];
  for (const fence of fences(markdown)) {
    if (fence.lang !== 'yaml' && fence.lang !== 'yml') continue;
    for (const doc of parseAllDocuments(fence.body)) {
      const value = doc.toJSON() as Json;
      if (!isObject(value) || 'apiVersion' in value || 'kind' in value) continue;
      // Chart values when at least half the top-level keys are chart keys (a cloudflared config with
      // `tunnel` and `ingress` is not; a values block with one misspelt key among two still is).
      const keys = Object.keys(value);
      if (keys.length === 0 || keys.filter((k) => topKeys.has(k)).length * 2 < keys.length) continue;
      out.push({ values: value, line: fence.line });
    }
  }
  return out;
}

/** Every key path of a values snippet that values.yaml does not have. */
export function unknownSnippetKeys(snippet: Json, values: Json, schema: Schema, prefix: string[] = []): string[] {
  if (!isObject(snippet)) return [];
  const problems: string[] = [];
  for (const [key, child] of Object.entries(snippet)) {
    const path = [...prefix, key];
    const check = checkValuesPath(path, values, schema);
    if (!check.ok) problems.push(`${path.join('.')}: ${check.reason}`);
    else if (check.exact) problems.push(...unknownSnippetKeys(child, values, schema, path));
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Environment variables

export interface EnvRef {
  name: string;
  /** Written as a prefix (`TOKENPLACE_RELAY_*`). */
  prefix: boolean;
}

export function envRefs(text: string): Located<EnvRef>[] {
  return [...text.matchAll(/(?<![A-Za-z0-9_])((?:RELAY|TOKENPLACE|TOKEN_PLACE)_[A-Z0-9_]*)(\*)?(?![A-Za-z0-9_])/g)].map((m) => ({
    value: { name: m[1], prefix: m[2] !== undefined || m[1].endsWith('_') },
    line: lineOf(text, m.index ?? 0),
  }));
}

// ---------------------------------------------------------------------------------------------
// Shell commands

/**
 * Splits shell text into simple commands (arrays of words), well enough for documentation: quotes,
 * `$(...)`, backslash-newline, comments, and the separators newline ; && || | &. Redirections and
 * their targets are dropped; leading VAR=value assignments are kept.
 */
export function shellCommands(text: string): Located<string[]>[] {
  const commands: Located<string[]>[] = [];
  let words: string[] = [];
  let word: string | undefined;
  let line = 1;
  let startLine = 1;
  let dropNext = false;
  const endWord = () => {
    if (word === undefined) return;
    if (dropNext) dropNext = false;
    else if (/^(\d*>>?|\d*<|&>)(&\d+)?$/.test(word)) dropNext = !/&\d+$/.test(word);
    else if (/^(\d*>>?|\d*<|&>)./.test(word)) {
      // a redirection with its target attached, e.g. >out.txt or 2>&1
    } else {
      if (words.length === 0) startLine = line;
      words.push(word);
    }
    word = undefined;
  };
  const endCommand = () => {
    endWord();
    if (words.length > 0) commands.push({ value: words, line: startLine });
    words = [];
    dropNext = false;
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && text[i + 1] === '\n') {
      i += 2;
      line++;
      continue;
    }
    if (c === '\n') {
      endCommand();
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t') {
      endWord();
      i++;
      continue;
    }
    if (c === '#' && word === undefined) {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (word === undefined && (text.startsWith('&&', i) || text.startsWith('||', i))) {
      endCommand();
      i += 2;
      continue;
    }
    if (c === ';' || c === '|' || (c === '&' && text[i + 1] !== '>' && !/^\d*>$/.test(word ?? ''))) {
      endCommand();
      i++;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      const stop = end < 0 ? text.length : end;
      const quoted = text.slice(i + 1, stop);
      line += quoted.split('\n').length - 1;
      word = (word ?? '') + quoted;
      i = stop + 1;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let quoted = '';
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\' && j + 1 < text.length) {
          quoted += text[j + 1];
          j += 2;
        } else {
          if (text[j] === '\n') line++;
          quoted += text[j];
          j++;
        }
      }
      word = (word ?? '') + quoted;
      i = j + 1;
      continue;
    }
    if (c === '$' && text[i + 1] === '(') {
      let depth = 0;
      let j = i + 1;
      for (; j < text.length; j++) {
        if (text[j] === '(') depth++;
        else if (text[j] === ')' && --depth === 0) break;
      }
      word = (word ?? '') + text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[i + 1];
      i += 2;
      continue;
    }
    word = (word ?? '') + c;
    i++;
  }
  endCommand();
  return commands;
}

/** The command's words after leading VAR=value assignments. */
export function programWords(words: readonly string[]): string[] {
  let i = 0;
  while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i])) i++;
  return words.slice(i);
}

/** Shell commands of the shell-language fences and of the inline code spans. */
export function documentCommands(markdown: string): (Located<string[]> & { fenced: boolean })[] {
  const out: (Located<string[]> & { fenced: boolean })[] = [];
  for (const fence of fences(markdown)) {
    if (!SHELL_LANGS.has(fence.lang)) continue;
    for (const command of shellCommands(fence.body)) {
      out.push({ value: programWords(command.value), line: fence.line + command.line, fenced: true });
    }
  }
  for (const code of inlineCode(markdown)) {
    for (const command of shellCommands(code.value)) {
      out.push({ value: programWords(command.value), line: code.line, fenced: false });
    }
  }
  return out.filter((c) => c.value.length > 0);
}

// ---------------------------------------------------------------------------------------------
// dagger call

/** dagger's own flags that take a separate value (`dagger -m <module> call ...`). */
const DAGGER_VALUE_FLAGS = new Set(['-m', '--mod', '--progress', '-o', '--output', '-W', '--workdir']);

export interface DaggerCall {
  fn: string;
  flags: string[];
  help: boolean;
}

/** `dagger [flags] call [flags] <function> [--arg ...] [chained ...]`; undefined when not a call of a function. */
export function parseDaggerCall(
  words: readonly string[],
  functions: ReadonlyMap<string, DaggerFunction>,
): DaggerCall | undefined {
  if (words[0] !== 'dagger') return undefined;
  let i = 1;
  const skipFlags = () => {
    while (i < words.length && words[i].startsWith('-')) {
      if (!words[i].includes('=') && DAGGER_VALUE_FLAGS.has(words[i])) i++;
      i++;
    }
  };
  skipFlags();
  if (words[i] !== 'call') return undefined;
  i++;
  skipFlags();
  const fn = words[i];
  if (fn === undefined || !/^[a-z][a-z0-9-]*$/.test(fn)) return undefined;
  i++;
  const params = functions.get(fn)?.params ?? [];
  const flags: string[] = [];
  let help = false;
  while (i < words.length && words[i].startsWith('-')) {
    const [flag, value] = words[i].split(/=(.*)/s, 2);
    if (flag === '--help' || flag === '-h') help = true;
    else flags.push(flag);
    i++;
    const param = params.find((p) => p.flag === flag);
    if (
      value === undefined &&
      !param?.boolean &&
      flag !== '--help' &&
      flag !== '-h' &&
      i < words.length &&
      !words[i].startsWith('-')
    ) {
      i++;
    }
  }
  return { fn, flags, help };
}

/** What is wrong with a call, per the module's functions (empty when nothing). */
export function daggerCallProblems(
  call: DaggerCall,
  functions: ReadonlyMap<string, DaggerFunction>,
  options: { requireArguments: boolean },
): string[] {
  const fn = functions.get(call.fn);
  if (!fn) return [`dagger call ${call.fn}: the module has no function ${call.fn} (it has ${[...functions.keys()].join(', ')})`];
  const problems: string[] = [];
  for (const flag of call.flags) {
    if (!fn.params.some((p) => p.flag === flag)) {
      problems.push(
        `dagger call ${call.fn} ${flag}: ${fn.name}() has no such parameter (it takes ${fn.params.map((p) => p.flag).join(' ')})`,
      );
    }
  }
  if (options.requireArguments && !call.help) {
    for (const param of fn.params) {
      if (!param.optional && !call.flags.includes(param.flag)) problems.push(`dagger call ${call.fn}: ${param.flag} is required`);
    }
  }
  return problems;
}
