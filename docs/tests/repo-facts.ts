/**
 * What the documentation may refer to, read from the repository itself: chart values, the relay's
 * settings, the environment the chart and the image set, and the Dagger module's functions.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { SETTINGS } from '../../relay/src/config.ts';
import { type DaggerFunction, introspectModule } from './dagger-module.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../../${relative}`, import.meta.url));
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface RepoFacts {
  /** chart/values.yaml, parsed. */
  values: { [key: string]: Json };
  /** chart/values.schema.json, parsed. */
  schema: { [key: string]: Json };
  /** Environment variables the relay reads (relay/src/config.ts SETTINGS). */
  settings: Set<string>;
  /** Environment variables the chart's Deployment sets. */
  chartEnv: Set<string>;
  /** Environment variables the image's Dockerfile sets with ENV. */
  imageEnv: Set<string>;
  /** The Dagger module's functions, by their CLI name, as the SDK's introspector reads them. */
  dagger: Map<string, DaggerFunction>;
}

/** `- name: X` entries of the container env in a rendered-looking template. */
export function templateEnvNames(template: string): Set<string> {
  return new Set([...template.matchAll(/^\s*- name: ([A-Z_][A-Z0-9_]*)\s*$/gm)].map((m) => m[1]));
}

/** Names set by ENV instructions (`ENV A=1 \` continued over lines, or the legacy `ENV A 1`). */
export function dockerfileEnvNames(dockerfile: string): Set<string> {
  const names = new Set<string>();
  const joined = dockerfile.replace(/\\\r?\n/g, ' ');
  for (const line of joined.split('\n')) {
    const match = /^\s*ENV\s+(.*)$/i.exec(line);
    if (!match) continue;
    const body = match[1].trim();
    if (!body.includes('=')) {
      names.add(body.split(/\s+/)[0]);
      continue;
    }
    for (const pair of body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)) names.add(pair[1]);
  }
  return names;
}

let cached: Promise<RepoFacts> | undefined;

export function repoFacts(): Promise<RepoFacts> {
  cached ??= (async () => {
    const [values, schema, deployment, dockerfile, module] = await Promise.all([
      readFile(repoPath('chart/values.yaml'), 'utf8'),
      readFile(repoPath('chart/values.schema.json'), 'utf8'),
      readFile(repoPath('chart/templates/deployment.yaml'), 'utf8'),
      readFile(repoPath('Dockerfile'), 'utf8'),
      introspectModule(),
    ]);
    return {
      values: parse(values),
      schema: JSON.parse(schema),
      settings: new Set(Object.values(SETTINGS).map((s) => s.name)),
      chartEnv: templateEnvNames(deployment),
      imageEnv: dockerfileEnvNames(dockerfile),
      dagger: new Map(module.functions.map((f) => [f.cliName, f])),
    };
  })();
  return cached;
}
