/**
 * Just enough of a Dockerfile reader for the contract tests: instructions with their stage, ARG
 * names and defaults, and the key=value pairs of ENV and LABEL. Line continuations and comment lines
 * are handled; heredocs and parser directives other than comments are not used by our Dockerfiles.
 */

export interface Instruction {
  keyword: string;
  rest: string;
  /** -1 before the first FROM (global ARGs), then 0, 1, ... per FROM. */
  stage: number;
}

export function instructions(text: string): Instruction[] {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  const out: Instruction[] = [];
  let stage = -1;
  for (const line of joined.split('\n')) {
    const match = /^\s*([A-Za-z]+)\s+(.*?)\s*$/.exec(line);
    if (!match) continue;
    const keyword = match[1].toUpperCase();
    if (keyword === 'FROM') stage++;
    out.push({ keyword, rest: match[2], stage });
  }
  return out;
}

/** `A=1 B="two words" C=${X}` → { A: '1', B: 'two words', C: '${X}' }. */
export function pairs(rest: string): Record<string, string> {
  const result: Record<string, string> = {};
  const pattern = /([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (const match of rest.matchAll(pattern)) {
    const raw = match[2];
    result[match[1]] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  }
  return result;
}

export function lastStage(all: Instruction[]): number {
  return Math.max(...all.map((i) => i.stage));
}

/** ARG name → default (undefined when none) for one stage (-1: the global ARGs before the first FROM). */
export function args(all: Instruction[], stage: number): Map<string, string | undefined> {
  const found = new Map<string, string | undefined>();
  for (const i of all.filter((x) => x.keyword === 'ARG' && x.stage === stage)) {
    const [name, ...value] = i.rest.split('=');
    found.set(name.trim(), value.length > 0 ? value.join('=').replace(/^"(.*)"$/, '$1') : undefined);
  }
  return found;
}

export function keyValues(all: Instruction[], keyword: 'ENV' | 'LABEL', stage: number): Record<string, string> {
  return Object.assign({}, ...all.filter((i) => i.keyword === keyword && i.stage === stage).map((i) => pairs(i.rest)));
}

/** Replaces `${NAME}` and `$NAME` with build-arg values (missing ones become empty, as docker does). */
export function substitute(value: string, values: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => values[a ?? b] ?? '');
}

/** The argv of the final stage's exec-form (JSON) ENTRYPOINT; throws when there is none. */
export function execEntrypoint(text: string): string[] {
  const all = instructions(text);
  const last = lastStage(all);
  const entrypoint = all.filter((i) => i.keyword === 'ENTRYPOINT' && i.stage === last).at(-1);
  if (!entrypoint?.rest.startsWith('[')) throw new Error('Dockerfile: no exec-form ENTRYPOINT in the final stage');
  return JSON.parse(entrypoint.rest) as string[];
}
