/**
 * The justfile's operator recipes, run with `just --dry-run`: the exact commands each would run, and
 * those commands accepted by real helm (3 and 4) and kubectl (1.32 and 1.35) flag parsers.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { chartVersion, chartYamlVersion, releaseInfo } from '../../ci/src/release.ts';
import { checkHelm, checkKubectl } from './cli-binaries.ts';
import { shellCommands } from './doc-refs.ts';
import { dryRun, runJust } from './just.ts';
import { repoPath } from './repo-facts.ts';

const CHART_YAML = await readFile(repoPath('chart/Chart.yaml'), 'utf8');
/** The chart version `publish` gives a main build of commit 0123abc…, by the pipeline's own rule. */
const SHA_CHART_VERSION = chartVersion(chartYamlVersion(CHART_YAML), releaseInfo('refs/heads/main', `0123abc${'0'.repeat(33)}`));

const REDEPLOY_STAGING = [
  'helm upgrade --install relay oci://ghcr.io/tokenplace/charts/tokenplace-relay',
  '--namespace tokenplace --create-namespace -f docs/examples/tokenplace-relay.values.staging.yaml',
  '--set-string image.repository=ghcr.io/tokenplace/tokenplace-relay',
];
const ROLLOUT = 'kubectl --namespace tokenplace rollout status deployment/relay-tokenplace-relay --timeout=5m';

/** Collapses the double space an empty interpolation leaves. */
const tidy = (line: string) => line.replace(/\s+/g, ' ').trim();

describe('just --list', () => {
  it('shows the four operator recipes', async () => {
    const result = await runJust(['--list']);
    expect(result.code).toBe(0);
    const recipes = result.stdout
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/)[0])
      .filter(Boolean);
    expect(recipes.sort()).toEqual([
      'default',
      'tokenplace-logs',
      'tokenplace-oci-redeploy',
      'tokenplace-port-forward',
      'tokenplace-status',
    ]);
  });
});

describe('tokenplace-oci-redeploy', () => {
  it('without a tag installs the newest released chart with the staging values and waits for the rollout', async () => {
    const run = await dryRun(['tokenplace-oci-redeploy']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.commands.map(tidy)).toEqual([REDEPLOY_STAGING.join(' '), ROLLOUT]);
  });

  it('tag=sha-<7 hex> installs that build: the chart version publish gives it, image tag sha-..., no digest', async () => {
    for (const args of [
      ['tokenplace-oci-redeploy', 'tag=sha-0123abc'],
      ['tokenplace-oci-redeploy', 'sha-0123abc'],
    ]) {
      const run = await dryRun(args);
      expect(run.code, run.stderr).toBe(0);
      expect(run.commands.map(tidy)).toEqual([
        [
          'helm upgrade --install relay oci://ghcr.io/tokenplace/charts/tokenplace-relay',
          `--version ${SHA_CHART_VERSION}`,
          ...REDEPLOY_STAGING.slice(1),
          '--set-string image.tag=sha-0123abc --set-string image.digest=',
        ].join(' '),
        ROLLOUT,
      ]);
    }
  });

  it('tag=1.2.3 (or a pre-release) installs that release of chart and image', async () => {
    const run = await dryRun(['tokenplace-oci-redeploy', 'tag=2.0.0-rc.1']);
    expect(run.code, run.stderr).toBe(0);
    expect(tidy(run.commands[0])).toContain('--version 2.0.0-rc.1 ');
    expect(tidy(run.commands[0])).toContain('--set-string image.tag=2.0.0-rc.1 ');
  });

  it('refuses floating or unknown tags before running anything', async () => {
    for (const tag of ['1.2', '1', 'latest', 'sha-0123', 'v1.2.3']) {
      const run = await dryRun(['tokenplace-oci-redeploy', `tag=${tag}`]);
      expect(run.code, tag).not.toBe(0);
      expect(run.stderr).toContain(`tag must be sha-<7 hex> or a full version such as 1.2.3, got ${tag}`);
      expect(run.stderr).not.toContain('helm upgrade');
    }
  });

  it('follows the variables: stage, owner, namespace, release and an explicit chart_version', async () => {
    const run = await dryRun([
      'stage=dev',
      'owner=my-org',
      'namespace=tokenplace-dev',
      'release=tokenplace-relay',
      'chart_version=0.3.0',
      'tokenplace-oci-redeploy',
      'tag=sha-89abcde',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.commands.map(tidy)).toEqual([
      [
        'helm upgrade --install tokenplace-relay oci://ghcr.io/my-org/charts/tokenplace-relay --version 0.3.0',
        '--namespace tokenplace-dev --create-namespace -f docs/examples/tokenplace-relay.values.dev.yaml',
        '--set-string image.repository=ghcr.io/my-org/tokenplace-relay --set-string image.tag=sha-89abcde --set-string image.digest=',
      ].join(' '),
      // A release named after the chart names its Deployment exactly so.
      'kubectl --namespace tokenplace-dev rollout status deployment/tokenplace-relay --timeout=5m',
    ]);
  });
});

describe('tokenplace-status', () => {
  it("shows the release's history, its objects by instance label, and the certificates", async () => {
    const run = await dryRun(['tokenplace-status']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.commands.map(tidy)).toEqual([
      'helm history relay --namespace tokenplace --max 5',
      'kubectl --namespace tokenplace get deployment,pods,service,endpointslices,ingress,networkpolicy --selector app.kubernetes.io/instance=relay -o wide',
      'kubectl --namespace tokenplace get certificate',
    ]);
  });
});

describe('tokenplace-logs', () => {
  it('prints the relay pods and then the Traefik pods, 200 lines each unless lines=... says otherwise', async () => {
    const relay = (n: number) =>
      `kubectl --namespace tokenplace logs --selector app.kubernetes.io/instance=relay,app.kubernetes.io/component=relay --prefix --tail=${n}`;
    const traefik = (n: number) =>
      `kubectl --namespace kube-system logs --selector app.kubernetes.io/name=traefik --prefix --tail=${n}`;
    const byDefault = await dryRun(['tokenplace-logs']);
    expect(byDefault.commands.map(tidy)).toEqual([relay(200), traefik(200)]);
    const fifty = await dryRun(['tokenplace-logs', 'lines=50']);
    expect(fifty.commands.map(tidy)).toEqual([relay(50), traefik(50)]);
  });
});

describe('tokenplace-port-forward', () => {
  it('forwards local_port (default 8080) to the relay Service port', async () => {
    const byDefault = await dryRun(['tokenplace-port-forward']);
    expect(byDefault.commands.map(tidy)).toEqual([
      'echo "relay on http://127.0.0.1:8080 (try /healthz, /livez, /v1/models); Ctrl-C stops"',
      'kubectl --namespace tokenplace port-forward service/relay-tokenplace-relay 8080:80',
    ]);
    const other = await dryRun(['tokenplace-port-forward', 'local_port=9090']);
    expect(tidy(other.commands[1])).toBe('kubectl --namespace tokenplace port-forward service/relay-tokenplace-relay 9090:80');
  });
});

describe('every command the recipes would run', () => {
  const runs = [
    ['tokenplace-oci-redeploy'],
    ['tokenplace-oci-redeploy', 'tag=sha-0123abc'],
    ['tokenplace-status'],
    ['tokenplace-logs'],
    ['tokenplace-port-forward'],
  ];

  it('uses the staging and dev values files that exist', async () => {
    for (const stage of ['staging', 'dev']) {
      const run = await dryRun([`stage=${stage}`, 'tokenplace-oci-redeploy']);
      const file = /-f (\S+)/.exec(run.commands[0])?.[1] ?? '';
      expect(file).toBe(`docs/examples/tokenplace-relay.values.${stage}.yaml`);
      await expect(readFile(repoPath(file), 'utf8')).resolves.toContain('ingress:');
    }
  });

  it('is accepted by helm 3 and 4 and kubectl 1.32 and 1.35 (flags and subcommands, checked with --help)', {
    timeout: 120_000,
  }, async () => {
    const problems: string[] = [];
    let checked = 0;
    for (const args of runs) {
      const run = await dryRun(args);
      for (const line of run.commands) {
        for (const { value: words } of shellCommands(line)) {
          const [program, ...rest] = words;
          if (program === 'helm') {
            for (const major of [3, 4] as const) problems.push((await checkHelm(major, rest)) ?? '');
            checked++;
          } else if (program === 'kubectl') {
            for (const minor of [32, 35] as const) problems.push((await checkKubectl(minor, rest)) ?? '');
            checked++;
          } else expect(program).toBe('echo');
        }
      }
    }
    expect(checked).toBe(10);
    expect(problems.filter(Boolean)).toEqual([]);
  });

  it('a misspelt flag or subcommand would be caught by that check', { timeout: 60_000 }, async () => {
    expect(await checkHelm(4, ['status', 'relay', '--show-resources'])).toMatch(/unknown flag: --show-resources/);
    expect(await checkKubectl(35, ['--namespace', 'tokenplace', 'logs', '--prefixx'])).toMatch(/unknown flag: --prefixx/);
    expect(await checkKubectl(35, ['rollout', 'statuss', 'deployment/x'])).toMatch(/not a runnable subcommand/);
    expect(await checkHelm(3, ['upgade', 'relay', './chart'])).toMatch(/unknown command/);
  });
});
