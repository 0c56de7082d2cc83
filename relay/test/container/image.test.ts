/**
 * The Dockerfile, built and run on a real Docker engine with local stand-in base images, the way the
 * chart runs it. One image build for the whole file; the SIGTERM test comes last because it stops the relay.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/async.ts';
import { renderTestPod, testPodRun } from './chart-test-pod.ts';
import {
  CHART_LIKE_RUN_FLAGS,
  imageFiles,
  publishedPort,
  startStandInGpuContainer,
  uniqueName,
  waitForStatus,
} from './containers.ts';
import { dockerPlatform } from './docker.ts';
import { dockerOrSkip } from './engine-gate.ts';
import { RELAY_ENTRYPOINT, repoRoot } from './paths.ts';
import { buildRelayImage, expectedLabels, testMetadata } from './relay-image.ts';
import { buildStandInBase, NONROOT_UID } from './stand-in-base.ts';

const SUITE = 'container image';
const STOP_GRACE_SECONDS = 20;
const DRAIN_SECONDS = 2;
const TOKEN_DELAY_MS = 250;
/** What the image may add on top of its base; a regression guard, not a target. */
const SIZE_BUDGET_BYTES = 15 * 1024 * 1024;

const docker = await dockerOrSkip(SUITE);

interface LockEntry {
  dev?: boolean;
}

function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev)
    .map(([path]) => path)
    .sort();
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>, first: string): Promise<string> {
  const decoder = new TextDecoder();
  let text = first;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

function streamedContent(sse: string): string {
  return sse
    .split('\n')
    .filter((line) => line.startsWith('data: ') && line !== 'data: [DONE]')
    .map(
      (line) =>
        (JSON.parse(line.slice('data: '.length)) as { choices: { delta: { content: string } }[] }).choices[0].delta.content,
    )
    .join('');
}

if (docker) {
  describe(SUITE, () => {
    const platform = dockerPlatform();
    const metadata = testMetadata();
    const tag = `tokenplace-relay:container-test-${platform.split('/')[1]}`;
    const network = uniqueName('tokenplace-relay-net');
    const gpuName = uniqueName('tokenplace-relay-gpu');
    const relayName = uniqueName('tokenplace-relay');
    let runtimeBase = '';
    let baseUrl = '';
    let buildSeconds = 0;

    beforeAll(async () => {
      const [runtime, build] = await Promise.all([
        buildStandInBase(docker, { kind: 'runtime', platform }),
        buildStandInBase(docker, { kind: 'build', platform }),
      ]);
      runtimeBase = runtime.tag;
      const started = performance.now();
      await buildRelayImage(docker, { tag, platform, buildImage: build.tag, runtimeImage: runtime.tag, metadata });
      buildSeconds = (performance.now() - started) / 1000;

      await docker.run(['network', 'create', network]);
      await startStandInGpuContainer(docker, { image: runtime.tag, name: gpuName, network, tokenDelayMs: TOKEN_DELAY_MS });
      await docker.run([
        'run',
        '--detach',
        '--name',
        relayName,
        '--network',
        network,
        ...CHART_LIKE_RUN_FLAGS,
        '--publish',
        '127.0.0.1::5010',
        '--env',
        `TOKENPLACE_RELAY_DRAIN_SECONDS=${DRAIN_SECONDS}`,
        // As the chart sets it with env.upstream.enabled: forwarding to the HTTP GPU server is off by default.
        '--env',
        'TOKENPLACE_RELAY_UPSTREAM_URL=http://gpu-server:8000',
        tag,
      ]);
      baseUrl = `http://127.0.0.1:${await publishedPort(docker, relayName, 5010)}`;
      await waitForStatus(`${baseUrl}/healthz`, 200);
    }, 900_000);

    afterAll(async () => {
      await docker.try(['rm', '--force', relayName, gpuName]);
      await docker.try(['network', 'rm', network]);
    }, 120_000);

    it('carries the OCI labels passed as build args, the port, and the relay as entry point', async () => {
      const image = await docker.inspect<{
        Architecture: string;
        Config: {
          Labels: Record<string, string>;
          Env: string[];
          ExposedPorts: Record<string, unknown>;
          Entrypoint: string[];
          User: string;
        };
      }>('image', tag);
      expect(image.Config.Labels).toMatchObject(expectedLabels(metadata));
      expect(image.Config.Env).toEqual(
        expect.arrayContaining(['RELAY_PORT=5010', `TOKENPLACE_RELAY_VERSION=${metadata.version}`]),
      );
      expect(Object.keys(image.Config.ExposedPorts)).toEqual(['5010/tcp']);
      expect(image.Config.Entrypoint).toEqual(RELAY_ENTRYPOINT);
      expect(image.Config.User).toBe(`${NONROOT_UID}:${NONROOT_UID}`);
      expect(`linux/${image.Architecture}`).toBe(platform);
      process.stderr.write(`[${SUITE}] image build took ${buildSeconds.toFixed(1)} s\n`);
    });

    it('runs the relay as PID 1 under the non-root UID, without capabilities or privilege gain', async () => {
      const script = [
        "const fs = require('node:fs');",
        "const status = fs.readFileSync('/proc/1/status', 'utf8');",
        'const field = (name) => new RegExp("^" + name + ":\\\\s*(.*)$", "m").exec(status)[1].trim();',
        "console.log(JSON.stringify({ uid: field('Uid'), gid: field('Gid'), capEff: field('CapEff'), noNewPrivs: field('NoNewPrivs'),",
        "  cmdline: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').filter(Boolean), myUid: process.getuid() }));",
      ].join(' ');
      const output = await docker.run(['exec', relayName, '/nodejs/bin/node', '-e', script]);
      const facts = JSON.parse(output) as {
        uid: string;
        gid: string;
        capEff: string;
        noNewPrivs: string;
        cmdline: string[];
        myUid: number;
      };
      expect(facts.uid.split(/\s+/)).toEqual(Array(4).fill(String(NONROOT_UID)));
      expect(facts.gid.split(/\s+/)).toEqual(Array(4).fill(String(NONROOT_UID)));
      expect(facts.capEff).toBe('0000000000000000');
      expect(facts.noNewPrivs).toBe('1');
      expect(facts.cmdline).toEqual(RELAY_ENTRYPOINT);
      expect(facts.myUid).toBe(NONROOT_UID);
    });

    it('needs nothing writable but /tmp: the root filesystem and /app are read-only', async () => {
      const script = [
        "const fs = require('node:fs');",
        'const tryWrite = (path) => { try { fs.writeFileSync(path, "x"); return "written"; } catch (err) { return err.code; } };',
        "console.log(JSON.stringify({ app: tryWrite('/app/probe'), home: tryWrite('/home/nonroot/probe'), tmp: tryWrite('/tmp/probe') }));",
      ].join(' ');
      const result = JSON.parse(await docker.run(['exec', relayName, '/nodejs/bin/node', '-e', script]));
      expect(result).toEqual({ app: 'EROFS', home: 'EROFS', tmp: 'written' });
    });

    it('answers /healthz, /livez and /metrics', async () => {
      const healthz = await fetch(`${baseUrl}/healthz`);
      expect(healthz.status).toBe(200);
      expect(await healthz.json()).toMatchObject({
        status: 'ready',
        upstream: 'http://gpu-server:8000',
        version: metadata.version,
      });

      const livez = await fetch(`${baseUrl}/livez`);
      expect(livez.status).toBe(200);
      expect(await livez.json()).toEqual({ status: 'alive' });

      const metrics = await fetch(`${baseUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await metrics.text();
      expect(text).toMatch(/^tokenplace_relay_requests_total\{/m);
      expect(text).toMatch(/^process_open_fds \d+/m);
    });

    it('forwards requests to the upstream container on the same Docker network', async () => {
      const models = await fetch(`${baseUrl}/v1/models`);
      expect(models.status).toBe(200);
      expect(await models.json()).toEqual({ object: 'list', data: [{ id: 'stand-in', object: 'model' }] });

      const chat = await fetch(`${baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(chat.status).toBe(200);
      const body = (await chat.json()) as { choices: { message: { content: string } }[] };
      expect(body.choices[0].message.content).toMatch(/^Hello from the stand-in GPU server/);
    });

    it('logs JSON lines on stdout, one per forwarded request, and nothing on stderr', async () => {
      // The relay writes its log in batches (at least every 200 ms): wait for the request's line.
      const logs = await eventually(
        async () => {
          const current = await docker.try(['logs', relayName]);
          return current.stdout.includes('"path":"/v1/models"') ? current : undefined;
        },
        5_000,
        'the forwarded request to be logged',
      );
      expect(logs.code).toBe(0);
      expect(logs.stderr).toBe('');
      const lines = logs.stdout.split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThan(0);
      const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const record of records)
        expect(record).toMatchObject({ service: 'tokenplace-relay', level: expect.any(String), msg: expect.any(String) });
      expect(records.find((record) => record.msg === 'relay listening')).toMatchObject({ port: 5010, version: metadata.version });
      expect(records.filter((record) => record.msg === 'request' && record.path === '/v1/models')).toEqual([
        expect.objectContaining({ method: 'GET', status: 200, route: 'proxy' }),
      ]);
    });

    it('holds only the compiled relay and its production dependencies: no npm, no compiler, no shell', async () => {
      const image = await imageFiles(docker, tag);
      const base = await imageFiles(docker, runtimeBase);
      try {
        const baseSet = new Set(base.paths);
        const added = image.paths.filter((path) => !baseSet.has(path));
        expect(added.filter((path) => !path.startsWith('app/'))).toEqual([]);

        const app = image.paths.filter((path) => path.startsWith('app/'));
        const topLevel = new Set(app.map((path) => path.split('/')[1]).filter(Boolean));
        expect([...topLevel].sort()).toEqual(['dist', 'node_modules', 'package.json']);
        const dist = app.filter((path) => path.startsWith('app/dist/') && !path.endsWith('/'));
        expect(dist.length).toBeGreaterThan(0);
        expect(dist.filter((path) => !/^app\/dist\/relay\/(src|node)\/(?:[a-z-]+\/)*[^/]+\.js$/.test(path))).toEqual([]);
        expect(dist).toContain('app/dist/relay/src/tokenplace/protocol.js');
        expect(dist).toContain('app/dist/relay/node/main.js');

        const packageDir = /^app\/((?:node_modules\/(?:@[^/]+\/[^/.][^/]*|[^@/.][^/]*)\/)+)$/;
        const installed = app
          .map((path) => packageDir.exec(path)?.[1])
          .filter((path): path is string => path !== undefined && !/\/node_modules\/$/.test(path))
          .map((path) => path.slice(0, -1))
          .sort();
        expect(installed).toEqual(productionPackages());

        const forbidden = image.paths.filter((path) =>
          /(^|\/)(npm|npx|corepack|yarn|pnpm|typescript|@typescript|tsc|vitest|@biomejs|gcc|cc|g\+\+|make|sh|bash|dash|busybox)(\/|$)/.test(
            path,
          ),
        );
        expect(forbidden).toEqual([]);
      } finally {
        image.dispose();
        base.dispose();
      }
    });

    it('adds little to its base image', async () => {
      const [image, base] = await Promise.all([
        docker.inspect<{ Size: number }>('image', tag),
        docker.inspect<{ Size: number }>('image', runtimeBase),
      ]);
      const added = image.Size - base.Size;
      process.stderr.write(
        `[${SUITE}] image ${(image.Size / 1e6).toFixed(1)} MB = base ${(base.Size / 1e6).toFixed(1)} MB + ${(added / 1e6).toFixed(2)} MB (relay + production node_modules)\n`,
      );
      expect(added).toBeGreaterThan(0);
      expect(added).toBeLessThan(SIZE_BUDGET_BYTES);
    });

    it("passes the chart's helm test pod: its rendered command, user and hardening, run against this image", async () => {
      const pod = await renderTestPod(tag);
      // The pod calls the relay's Service; here the relay container answers on the Docker network instead.
      const run = testPodRun(pod, { RELAY_URL: `http://${relayName}:5010` });
      expect(run.image).toBe(tag);
      const result = await docker.try(['run', '--rm', '--network', network, ...run.options, run.image, ...run.args]);
      expect(result.stdout).toContain('/healthz -> 200');
      expect(result.stdout).toContain('/livez -> 200');
      expect(result.code).toBe(0);

      // The chart's old default, a bare `node`, is on no PATH in the image: the pod could never have started.
      const bare = await docker.try(['run', '--rm', ...CHART_LIKE_RUN_FLAGS, '--entrypoint', 'node', tag, '-e', '0']);
      expect(bare.code).not.toBe(0);
    }, 120_000);

    it('on docker stop finishes the request in flight, fails readiness while draining, and exits 0 within the grace period', async () => {
      const expected = (await (
        await fetch(`${baseUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [] }),
        })
      ).json()) as { choices: { message: { content: string } }[] };

      const response = await fetch(`${baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(response.status).toBe(200);
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toMatch(/^data: /);

      const stopStarted = performance.now();
      const stop = docker.try(['stop', '--time', String(STOP_GRACE_SECONDS), relayName], {
        timeoutMs: (STOP_GRACE_SECONDS + 30) * 1000,
      });
      let readiness = 0;
      while (performance.now() - stopStarted < DRAIN_SECONDS * 1000 && readiness !== 503) {
        readiness = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
          (r) => r.status,
          () => 0,
        );
      }
      const body = await readAll(reader, first);
      const streamEndedAfter = (performance.now() - stopStarted) / 1000;
      const stopResult = await stop;
      const stopSeconds = (performance.now() - stopStarted) / 1000;

      expect(readiness).toBe(503);
      expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
      expect(streamedContent(body)).toBe(expected.choices[0].message.content);
      // Still streaming after the drain ended and the relay stopped accepting: it really waited for it.
      expect(streamEndedAfter).toBeGreaterThan(DRAIN_SECONDS);
      expect(stopResult.code).toBe(0);
      expect(stopSeconds).toBeLessThan(STOP_GRACE_SECONDS);
      const state = await docker.inspect<{ State: { Running: boolean; ExitCode: number; OOMKilled: boolean } }>(
        'container',
        relayName,
      );
      expect(state.State).toMatchObject({ Running: false, ExitCode: 0, OOMKilled: false });
      const logs = (await docker.run(['logs', relayName])).split('\n').filter(Boolean);
      expect(logs.map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ phase: 'stopped', clean: true }));
      process.stderr.write(
        `[${SUITE}] docker stop with a stream in flight: exit 0 after ${stopSeconds.toFixed(1)} s (grace ${STOP_GRACE_SECONDS} s)\n`,
      );
    }, 60_000);
  });
}
