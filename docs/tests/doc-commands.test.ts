/**
 * The shell commands in the documents' code blocks that can be checked without a cluster:
 * helm and kubectl commands are parsed by the real programs (`--help`, Helm 3 and 4, kubectl 1.32
 * and 1.35), `just` lines are dry-run against the justfile, `npm run` names a script of package.json.
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkHelm, checkKubectl } from './cli-binaries.ts';
import { type DocFile, docFiles } from './doc-files.ts';
import { documentCommands, shellCommands } from './doc-refs.ts';
import { dryRun } from './just.ts';
import { repoPath } from './repo-facts.ts';

interface Command {
  where: string;
  words: string[];
}

let commands: Command[];
let scripts: Record<string, string>;

beforeAll(async () => {
  const docs: DocFile[] = await docFiles();
  commands = docs.flatMap((doc) =>
    documentCommands(doc.text)
      .filter((c) => c.fenced)
      .map((c) => ({ where: `${doc.path}:${c.line}`, words: c.value })),
  );
  scripts = (JSON.parse(await readFile(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
});

const of = (program: string) => commands.filter((c) => c.words[0] === program);

describe('commands in the documents', () => {
  it('helm: accepted by Helm 3 and Helm 4', { timeout: 240_000 }, async () => {
    const helm = of('helm');
    expect(helm.length).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const command of helm) {
      for (const major of [3, 4] as const) {
        const problem = await checkHelm(major, command.words.slice(1));
        if (problem) problems.push(`${command.where}: ${problem}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('kubectl: accepted by kubectl 1.32 and 1.35', { timeout: 240_000 }, async () => {
    const kubectl = of('kubectl');
    expect(kubectl.length).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const command of kubectl) {
      for (const minor of [32, 35] as const) {
        const problem = await checkKubectl(minor, command.words.slice(1));
        if (problem) problems.push(`${command.where}: ${problem}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('just: each line dry-runs against the justfile', { timeout: 120_000 }, async () => {
    const just = of('just');
    expect(just.length).toBeGreaterThan(3);
    const problems: string[] = [];
    for (const command of just) {
      const run = await dryRun(command.words.slice(1).filter((word) => word !== '--dry-run'));
      if (run.code !== 0) problems.push(`${command.where}: ${command.words.join(' ')}: ${run.stderr.trim().split('\n')[0]}`);
    }
    expect(problems).toEqual([]);
  });

  it('npm run: names a script of package.json', () => {
    const problems = of('npm')
      .filter((c) => c.words[1] === 'run')
      .filter((c) => !(c.words[2] in scripts))
      .map((c) => `${c.where}: npm run ${c.words[2]}: no such script`);
    expect(problems).toEqual([]);
  });

  it('these checks see through quoting, continuation lines, comments and pipes', () => {
    const [first, second, third] = shellCommands(
      [
        "helm upgrade --install relay ./chart -n tokenplace \\\n  --set 'networkPolicy.gpuServer.cidrs={192.168.1.50/32}'  # a comment",
        'kubectl -n tokenplace create secret generic s --from-literal=K="$(openssl rand -hex 32)" | tail -n 1 > out.txt 2>&1',
      ].join('\n'),
    ).map((c) => c.value);
    expect(first).toEqual([
      'helm',
      'upgrade',
      '--install',
      'relay',
      './chart',
      '-n',
      'tokenplace',
      '--set',
      'networkPolicy.gpuServer.cidrs={192.168.1.50/32}',
    ]);
    expect(second).toEqual([
      'kubectl',
      '-n',
      'tokenplace',
      'create',
      'secret',
      'generic',
      's',
      '--from-literal=K=$(openssl rand -hex 32)',
    ]);
    expect(third).toEqual(['tail', '-n', '1']);
  });
});
