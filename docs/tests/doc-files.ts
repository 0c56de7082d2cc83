/** The Markdown documents the documentation tests read. */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './repo-facts.ts';

export interface DocFile {
  /** Repository-relative path with forward slashes. */
  path: string;
  text: string;
}

async function markdownUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.md'))
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => !path.split(/[\\/]/).includes('node_modules'));
}

/** README.md, chart/README.md and every docs/**.md. */
export async function docFiles(): Promise<DocFile[]> {
  const paths = [
    join(REPO_ROOT, 'README.md'),
    join(REPO_ROOT, 'chart', 'README.md'),
    ...(await markdownUnder(join(REPO_ROOT, 'docs'))),
  ];
  const files = await Promise.all(
    paths.sort().map(async (path) => ({
      path: relative(REPO_ROOT, path).split(/[\\/]/).join('/'),
      text: await readFile(path, 'utf8'),
    })),
  );
  return files;
}
