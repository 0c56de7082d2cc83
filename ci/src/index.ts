/**
 * The tokenplace-relay pipeline: build, check and publish the relay image and its Helm chart.
 *
 * Every function takes the repository from its root by default (node_modules and .git left out),
 * so `dagger call test` works from a checkout with no arguments.
 */
import {
  argument,
  type Container,
  check,
  type Directory,
  dag,
  func,
  type GitRepository,
  object,
  type Platform,
  ReturnType,
  type Secret,
  type Service,
} from '@dagger.io/dagger';
import { CHART_NAME, LINT_SET_ARGS } from './chart-values.ts';
import { clusterSteps } from './cluster/outside.ts';
import { formatReport, runClusterSteps, summarizeCluster } from './cluster/run.ts';
import { defaultScenario, OUTSIDE_GPU } from './cluster/scenario.ts';
import { shQuote } from './cluster/shell.ts';
import { aptInstall, IMAGES, NODE_APT_PACKAGES } from './images.ts';
import { clusterClient, daggerScriptRunner, k3sServer, pushToRegistry, REGISTRY_HOST, registryService, toolbox } from './k3s.ts';
import { k3sLogPath } from './k3s-setup.ts';
import { PUBLISH_PLATFORMS, parsePlatform } from './platforms.ts';
import { CONTRACT, NPM_TOOLS_PLATFORM, newRunId, PROJECT, SOURCE_IGNORE, STANDIN_CONTEXT } from './project.ts';
import {
  assertOneDigest,
  chartReference,
  chartVersion,
  chartYamlVersion,
  DIGEST_LOOKUP_SCRIPT,
  digestOf,
  dockerfileDescription,
  expectedLabels,
  helmPackageArgs,
  helmPushDigest,
  imageAnnotations,
  imageBuildArgs,
  parseDigestLookup,
  parseRegistry,
  parseRepository,
  parseRetagged,
  publishPlan,
  type ReleaseInfo,
  releaseInfo,
  retagScript,
  startOfUtcDay,
  withImageRepository,
} from './release.ts';
import { judgeLabels, judgeSmoke, smokeScript } from './smoke.ts';
import { runStage, runStages, summarizeStages } from './steps.ts';

@object()
export class TokenplaceRelay {
  /**
   * The relay image, built from the repository's Dockerfile, with its OCI labels filled from the
   * git revision and version.
   */
  @func()
  async build(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
    @argument({ defaultPath: '/' }) git: GitRepository,
    /** linux/amd64 or linux/arm64; the engine's own platform when omitted. */
    platform?: string,
    /** Git ref, e.g. refs/tags/v1.2.3 (defaults to the checkout's HEAD ref). */
    ref?: string,
    /** Commit sha (defaults to the checkout's HEAD). */
    sha?: string,
    /** RFC 3339 build time for the created label (defaults to today, 00:00 UTC). */
    created?: string,
    /** Repository URL for the source label (defaults to the Dockerfile's). */
    sourceUrl?: string,
  ): Promise<Container> {
    const info = await this.release(git, ref, sha);
    return this.image(source, info, parsePlatform(platform), created ?? startOfUtcDay(new Date()), sourceUrl ?? '');
  }

  /** Type-check and lint (tsc, biome) with the project's own npm scripts, in a pinned Node container. */
  @func()
  @check()
  async lint(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
  ): Promise<string> {
    let ctr = this.node(source);
    for (const command of PROJECT.lint) ctr = ctr.withExec([...command]);
    return ctr.stdout();
  }

  /** The relay's and the pipeline's unit tests (vitest), in a pinned Node container. */
  @func()
  @check()
  async unit(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
  ): Promise<string> {
    return this.node(source, NPM_TOOLS_PLATFORM)
      .withExec([...PROJECT.unit])
      .stdout();
  }

  /** `helm lint --strict` and the chart's template tests, with a pinned helm. */
  @func()
  @check()
  async chart(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
  ): Promise<string> {
    const helm = toolbox(NPM_TOOLS_PLATFORM)
      .withExec(['sh', '-c', 'mkdir -p /out && cp "$(command -v helm)" /out/helm'])
      .file('/out/helm');
    return this.node(source, NPM_TOOLS_PLATFORM)
      .withFile('/usr/local/bin/helm', helm, { permissions: 0o755 })
      .withEnvVariable('HELM', '/usr/local/bin/helm')
      .withExec(['helm', 'lint', '--strict', PROJECT.chartDir, ...LINT_SET_ARGS])
      .withExec([...PROJECT.chartTests])
      .stdout();
  }

  /**
   * Runs the built image as a service in front of the stand-in GPU server and checks /healthz,
   * /livez, /metrics, a forwarded request and the OCI labels from another container.
   */
  @func({ cache: 'never' })
  @check()
  async smoke(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
    @argument({ defaultPath: '/' }) git: GitRepository,
  ): Promise<string> {
    const info = await this.release(git);
    const created = startOfUtcDay(new Date());
    const image = this.image(source, info, undefined, created, '');
    const labels = judgeLabels(
      Object.fromEntries(
        await Promise.all(
          Object.keys(expectedLabels({ info, created, source: '' })).map(async (name) => [name, await image.label(name)]),
        ),
      ),
      expectedLabels({ info, created, source: '' }),
    );
    const gpu = this.standin(source).withExposedPort(CONTRACT.gpuPort).asService({ useEntrypoint: true });
    const relay = image
      .withEnvVariable('TOKENPLACE_RELAY_UPSTREAM_URL', `http://${CONTRACT.gpuServiceName}:${CONTRACT.gpuPort}`)
      .withServiceBinding(CONTRACT.gpuServiceName, gpu)
      .withExposedPort(CONTRACT.relayPort)
      .asService({ useEntrypoint: true });
    const output = await toolbox()
      .withServiceBinding('relay', relay)
      .withEnvVariable('SMOKE_RUN', newRunId())
      .withExec(['sh', '-c', smokeScript(`http://relay:${CONTRACT.relayPort}`)], { expect: ReturnType.Any })
      .stdout();
    const answers = judgeSmoke(output);
    if (!labels.ok || !answers.ok)
      throw new Error(
        `smoke failed: ${[labels, answers]
          .filter((v) => !v.ok)
          .map((v) => v.detail)
          .join('; ')}\n${output}`,
      );
    return `${labels.detail}\n${answers.detail}`;
  }

  /**
   * A k3s cluster (pinned rancher/k3s, as a Dagger service) with the chart installed and the built image
   * loaded: Deployment ready, a request through the Service reaching the stand-in GPU server, gpu-server
   * resolving from the relay pod, NetworkPolicy enforced both ways, helm test, and a rolling restart
   * under load without a lost request.
   */
  @func({ cache: 'never' })
  @check()
  async e2e(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
    @argument({ defaultPath: '/' }) git: GitRepository,
  ): Promise<string> {
    const runId = newRunId();
    const info = await this.release(git);
    const image = this.image(source, info, undefined, startOfUtcDay(new Date()), '');
    const registry = await registryService().start();
    let k3s: Service | undefined;
    try {
      const tag = `e2e-${runId}`;
      const relayRef = await pushToRegistry(registry, image.asTarball(), 'tokenplace-relay', tag, runId);
      const standinRef = await pushToRegistry(registry, this.standin(source).asTarball(), 'gpu-standin', tag, runId);
      // The probe image too: Dagger pulls it once (cached), and k3s never asks Docker Hub for it.
      const probeRef = await pushToRegistry(registry, dag.container().from(IMAGES.busybox).asTarball(), 'busybox', tag, runId);
      // A second stand-in beside the cluster, not in it: the GPU host as in production (outside-gpu-* steps).
      const outsideGpu = this.standin(source).withExposedPort(CONTRACT.gpuPort).asService({ useEntrypoint: true });
      const outside = { [OUTSIDE_GPU.alias]: outsideGpu };
      k3s = await k3sServer(registry, runId, outside).start();
      const client = await clusterClient(
        k3s,
        registry,
        source.directory(PROJECT.chartDir),
        source.directory(PROJECT.examplesDir),
        runId,
        outside,
      );
      const scenario = defaultScenario({
        chartPath: '/src/chart',
        examplesPath: '/src/examples',
        relayImage: { repository: relayRef.slice(0, relayRef.lastIndexOf(':')), tag, pullPolicy: 'IfNotPresent' },
        standinImage: standinRef,
        probeImage: probeRef,
        runId,
        serverLog: k3sLogPath(runId),
        outsideGpu: OUTSIDE_GPU,
      });
      const reports = await runClusterSteps(scenario, daggerScriptRunner(client), clusterSteps(scenario), (report) => {
        console.error(formatReport(report));
        if (report.output) console.error(report.output);
      });
      return summarizeCluster(reports, `e2e on k3s (${REGISTRY_HOST} images, run ${runId})`);
    } finally {
      await k3s?.stop();
      await registry.stop();
    }
  }

  /** Everything above; fails with a message that names each failed step. */
  @func({ cache: 'never' })
  async test(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
    @argument({ defaultPath: '/' }) git: GitRepository,
  ): Promise<string> {
    const quick = await runStages([
      { name: 'lint', run: () => this.lint(source) },
      { name: 'unit', run: () => this.unit(source) },
      { name: 'chart', run: () => this.chart(source) },
      { name: 'smoke', run: () => this.smoke(source, git) },
    ]);
    const cluster = await runStage({ name: 'e2e', run: () => this.e2e(source, git) });
    return summarizeStages([...quick, cluster]);
  }

  /**
   * Publishes one multi-arch index (linux/amd64, linux/arm64) with the tag sha-<7 hex>, plus 1.2.3, 1.2
   * and 1 for a v1.2.3 tag, and pushes the packaged chart to oci://<registry>/<owner>/charts.
   * Returns the pushed references with their digests.
   */
  @func({ cache: 'never' })
  async publish(
    @argument({ defaultPath: '/', ignore: SOURCE_IGNORE })
    source: Directory,
    @argument({ defaultPath: '/' }) git: GitRepository,
    /** Image repository as owner/name, e.g. my-org/tokenplace-relay. */
    repository: string,
    username: string,
    password: Secret,
    registry = 'ghcr.io',
    /** Git ref, e.g. refs/tags/v1.2.3 (defaults to the checkout's HEAD ref). */
    ref?: string,
    /** Commit sha (defaults to the checkout's HEAD). */
    sha?: string,
    /** RFC 3339 build time (defaults to now). */
    created?: string,
    /** Repository URL for the source label (defaults to https://github.com/<repository> on ghcr.io). */
    sourceUrl?: string,
    /** Also package and push the Helm chart. */
    withChart = true,
  ): Promise<string> {
    const host = parseRegistry(registry);
    const repo = parseRepository(repository);
    const info = await this.release(git, ref, sha);
    const when = created ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const url = sourceUrl ?? (host === 'ghcr.io' ? `https://github.com/${repository}` : '');
    const annotations = imageAnnotations(dockerfileDescription(await source.file('Dockerfile').contents()), url);
    const variants = PUBLISH_PLATFORMS.map((platform) =>
      annotations.reduce(
        (variant, { name, value }) => variant.withAnnotation(name, value),
        this.image(source, info, platform, when, url),
      ),
    );
    const image = `${host}/${repository}`;
    const registryTool = toolbox()
      .withMountedSecret('/run/secrets/registry-password', password)
      .withEnvVariable('REGISTRY', host)
      .withEnvVariable('REGISTRY_USER', username)
      .withEnvVariable('PUBLISH_RUN', newRunId());
    // Each look at the registry is a new exec (LOOKUP), never a cached answer.
    const lookup = async (reference: string) =>
      parseDigestLookup(
        await registryTool
          .withEnvVariable('REF', reference)
          .withEnvVariable('LOOKUP', newRunId())
          .withExec(['sh', '-c', DIGEST_LOOKUP_SCRIPT])
          .stdout(),
      );
    const retag = async (digest: string, tags: string[]) =>
      tags.length === 0
        ? []
        : parseRetagged(
            await registryTool
              .withEnvVariable('IMAGE', image)
              .withEnvVariable('DIGEST', digest)
              .withExec(['sh', '-c', retagScript(tags)])
              .stdout(),
          );
    const shaRef = `${image}:${info.shaTag}`;
    const plan = publishPlan(info, await lookup(shaRef));
    const images: string[] = [];
    const notes: string[] = [];
    if (plan.kind === 'retag') {
      // Already published (main's run): no rebuild, the other tags join the digest sha- points at.
      images.push(`${shaRef}@${plan.digest}`, ...(await retag(plan.digest, plan.tags)));
      notes.push(`note ${info.shaTag} was already published; ${plan.tags.join(', ') || 'nothing'} added to it, not rebuilt`);
    } else {
      // Build both platforms first, so that the moment between the last look at sha- and its push is short.
      await Promise.all(variants.map((variant) => variant.sync()));
      const publisher = dag.container().withRegistryAuth(host, username, password);
      for (const tag of plan.tags) images.push(await publisher.publish(`${image}:${tag}`, { platformVariants: variants }));
      const now = await lookup(shaRef);
      if (now !== undefined) {
        notes.push(`note ${info.shaTag} appeared meanwhile (${now}); left as it is`);
        if (images.length === 0) images.push(`${shaRef}@${now}`);
      } else if (images.length === 0) {
        images.push(await publisher.publish(shaRef, { platformVariants: variants }));
      } else {
        images.push(...(await retag(digestOf(images[0]), [plan.shaTag])));
      }
    }
    const digest = assertOneDigest(images);
    const lines = [...images.map((reference) => `image ${reference}`), ...notes];
    if (withChart)
      lines.push(await this.publishChart(source, info, host, repo.owner, `${host}/${repository}`, username, password));
    lines.push(`index ${digest} (${PUBLISH_PLATFORMS.join(', ')})`);
    return lines.join('\n');
  }

  private async publishChart(
    source: Directory,
    info: ReleaseInfo,
    host: string,
    owner: string,
    /** The image repository the chart's defaults must name, e.g. ghcr.io/my-org/tokenplace-relay. */
    image: string,
    username: string,
    password: Secret,
  ): Promise<string> {
    const chartYaml = await source.file(`${PROJECT.chartDir}/Chart.yaml`).contents();
    const version = chartVersion(chartYamlVersion(chartYaml), info);
    const target = `oci://${host}/${owner}/charts`;
    // The packaged chart's defaults name the image just pushed: this repository, tag = appVersion.
    const values = withImageRepository(await source.file(`${PROJECT.chartDir}/values.yaml`).contents(), image);
    const chart = source.directory(PROJECT.chartDir).withNewFile('values.yaml', values);
    const output = await toolbox()
      .withDirectory('/src/chart', chart)
      .withMountedSecret('/run/secrets/registry-password', password)
      .withEnvVariable('REGISTRY', host)
      .withEnvVariable('REGISTRY_USER', username)
      .withEnvVariable('PUBLISH_RUN', newRunId())
      .withExec([
        'sh',
        '-c',
        `set -eu
helm ${helmPackageArgs('/src/chart', '/out', chartYaml, info).map(shQuote).join(' ')}
helm registry login "$REGISTRY" --username "$REGISTRY_USER" --password-stdin < /run/secrets/registry-password
helm push /out/*.tgz '${target}' 2>&1`,
      ])
      .stdout();
    return `chart ${chartReference(target, CHART_NAME, version, helmPushDigest(output))}`;
  }

  private async release(git: GitRepository, ref?: string, sha?: string): Promise<ReleaseInfo> {
    const head = git.head();
    return releaseInfo(ref ?? (await head.ref()), sha ?? (await head.commit()));
  }

  /** The one definition of the image is the Dockerfile; this only passes its build args. */
  private image(
    source: Directory,
    info: ReleaseInfo,
    platform: string | undefined,
    created: string,
    sourceUrl: string,
  ): Container {
    return source.dockerBuild({
      ...(platform ? { platform: platform as Platform } : {}),
      buildArgs: imageBuildArgs({ info, created, source: sourceUrl }),
    });
  }

  /** The stand-in GPU server image, from a context holding only the files its Dockerfile copies. */
  private standin(source: Directory): Container {
    let context = dag.directory();
    for (const path of STANDIN_CONTEXT) context = context.withFile(path, source.file(path));
    return context.dockerBuild({ dockerfile: PROJECT.standinDockerfile });
  }

  /** The pinned Node container with the repository and its npm dependencies; `platform` as for `dag.container`. */
  private node(source: Directory, platform?: string): Container {
    return dag
      .container(platform ? { platform: platform as Platform } : {})
      .from(IMAGES.node)
      .withExec(['sh', '-c', aptInstall(NODE_APT_PACKAGES)])
      .withMountedCache('/root/.npm', dag.cacheVolume('tokenplace-relay-npm'))
      .withDirectory('/src', source)
      .withWorkdir('/src')
      .withExec([...PROJECT.install]);
  }
}
