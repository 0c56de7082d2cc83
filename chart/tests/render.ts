/** Renders the chart with a real helm binary and parses what it prints. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { type HelmBinary, type HelmResult, REPO_ROOT, runHelm } from './helm-binary.ts';

export const CHART_DIR = join(REPO_ROOT, 'chart');
export const EXAMPLES_DIR = join(REPO_ROOT, 'docs', 'examples');
/** The Kubernetes version the chart is rendered and validated for (its kubeVersion floor). */
export const KUBE_VERSION = '1.31.0';

export type Values = Record<string, unknown>;

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML; tests index into them freely.
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; [key: string]: any }; [key: string]: any };

/** The optional HTTP GPU server switched on, with what it then requires: the GPU host and its CIDR. */
export const HTTP_UPSTREAM_VALUES: Values = {
  env: { upstream: { enabled: true } },
  gpuExternalName: { host: 'gpu.home.arpa' },
  networkPolicy: { gpuServer: { cidrs: ['192.168.1.50/32'] } },
};

export interface RenderCase {
  release?: string;
  namespace?: string;
  /** Files under docs/examples, applied in order before `values`. */
  exampleFiles?: string[];
  values?: Values[];
}

/** Writes each values object to a temporary file; returns the `-f` arguments and a cleanup. */
async function valuesArgs(spec: RenderCase): Promise<{ args: string[]; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'relay-chart-values-'));
  const args: string[] = [];
  for (const file of spec.exampleFiles ?? []) args.push('-f', join(EXAMPLES_DIR, file));
  let index = 0;
  for (const values of spec.values ?? []) {
    // JSON is YAML too, and leaves no room for YAML 1.1 surprises such as `yes` read as true.
    const path = join(dir, `values-${index++}.json`);
    await writeFile(path, JSON.stringify(values));
    args.push('-f', path);
  }
  return { args, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function helmTemplate(helm: HelmBinary, spec: RenderCase): Promise<HelmResult> {
  const { args, cleanup } = await valuesArgs(spec);
  try {
    return await runHelm(helm, [
      'template',
      spec.release ?? 'relay',
      CHART_DIR,
      '--namespace',
      spec.namespace ?? 'tokenplace',
      '--kube-version',
      KUBE_VERSION,
      ...args,
    ]);
  } finally {
    await cleanup();
  }
}

export async function helmLint(helm: HelmBinary, spec: RenderCase): Promise<HelmResult> {
  const { args, cleanup } = await valuesArgs(spec);
  try {
    return await runHelm(helm, ['lint', '--strict', CHART_DIR, '--namespace', spec.namespace ?? 'tokenplace', ...args]);
  } finally {
    await cleanup();
  }
}

/** NOTES.txt as `helm install --dry-run=client` prints it (Helm 4: it needs no cluster for that). */
export async function helmNotes(helm: HelmBinary, spec: RenderCase): Promise<string> {
  const { args, cleanup } = await valuesArgs(spec);
  try {
    const result = await runHelm(helm, [
      'install',
      spec.release ?? 'relay',
      CHART_DIR,
      '--namespace',
      spec.namespace ?? 'tokenplace',
      '--dry-run=client',
      ...args,
    ]);
    if (result.code !== 0) throw new Error(`helm install --dry-run failed:\n${result.stderr}`);
    const start = result.stdout.indexOf('\nNOTES:\n');
    if (start < 0) throw new Error(`no NOTES in:\n${result.stdout}`);
    return result.stdout.slice(start + '\nNOTES:\n'.length);
  } finally {
    await cleanup();
  }
}

/** Parses a multi-document manifest strictly (duplicate keys and YAML errors throw). */
export function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text, { uniqueKeys: true, strict: true })) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

/** Renders and parses; throws with helm's message when the render fails. */
export async function renderObjects(helm: HelmBinary, spec: RenderCase): Promise<K8sObject[]> {
  const result = await helmTemplate(helm, spec);
  if (result.code !== 0) throw new Error(`helm ${helm.version} template failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

export function findAll(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

export function findOne(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const matches = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (matches.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${matches.length}`);
  }
  return matches[0];
}
