/**
 * The rendered chart against the real relay: the relay starts with exactly the environment the
 * Deployment gives it, and the `helm test` pod's script passes against it and fails otherwise.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findHelm, REPO_ROOT } from './helm-binary.ts';
import { findOne, HTTP_UPSTREAM_VALUES, type K8sObject, renderObjects } from './render.ts';

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests.
type Any = any;

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === status) return;
      last = `status ${res.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

/** Runs the test pod's command on this machine with the given RELAY_URL. */
async function runTestPodScript(
  pod: K8sObject,
  relayUrl: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const [container] = pod.spec.containers;
  const [, ...args] = container.command as string[];
  const child = spawn(process.execPath, args, { env: { RELAY_URL: relayUrl, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

let objects: K8sObject[];
let relay: ChildProcess;
let relayPort: number;
let relayStderr = '';

beforeAll(async () => {
  relayPort = await freePort();
  objects = await renderObjects(await findHelm(4), {
    values: [
      HTTP_UPSTREAM_VALUES,
      {
        env: {
          port: relayPort,
          maxConnections: 256,
          logLevel: 'warn',
          upstream: { maxConcurrency: 2 },
          queue: { length: 8, timeoutMs: 5000 },
          registration: { allowedUpstreams: ['192.168.1.0/24', 'fd00::/8', 'gpu.home.arpa', '*.lan'], leaseSeconds: 60 },
          cors: { origins: ['https://chat.example.org', 'http://localhost:5173'], credentials: true },
        },
      },
    ],
  });
  const container = findOne(objects, 'Deployment').spec.template.spec.containers[0];
  // The Deployment's env, with the Secret reference left out (no Secret here: it is optional).
  const env: Record<string, string> = {};
  for (const e of container.env as Any[]) if (e.value !== undefined) env[e.name] = e.value;
  relay = spawn(process.execPath, [join(REPO_ROOT, 'relay/node/main.ts')], {
    env: { ...env, RELAY_HOST: '127.0.0.1', PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  relay.stderr?.on('data', (chunk) => {
    relayStderr += chunk;
  });
  await waitForStatus(`http://127.0.0.1:${relayPort}/healthz`, 200, 15_000);
}, 60_000);

afterAll(async () => {
  if (relay && relay.exitCode === null) {
    relay.kill('SIGTERM');
    await once(relay, 'exit');
  }
});

describe('the relay with the environment the Deployment renders', () => {
  it('starts, accepts every variable and serves its probe endpoints on the container port', async () => {
    expect(relay.exitCode).toBeNull();
    expect(relayStderr).not.toContain('invalid configuration');
    for (const path of ['/healthz', '/livez']) {
      const res = await fetch(`http://127.0.0.1:${relayPort}${path}`);
      await res.arrayBuffer();
      expect(res.status, path).toBe(200);
    }
  });
});

describe('the helm test pod script', () => {
  it('passes against the running relay', async () => {
    const result = await runTestPodScript(findOne(objects, 'Pod'), `http://127.0.0.1:${relayPort}`);
    expect(result.output).toContain('/healthz -> 200');
    expect(result.output).toContain('/livez -> 200');
    expect(result.code).toBe(0);
  });

  it('fails when the relay reports not ready', async () => {
    const server: Server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? 503 : 200;
      res.end('{}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runTestPodScript(findOne(objects, 'Pod'), `http://127.0.0.1:${port}`);
      expect(result.output).toContain('/healthz -> 503');
      expect(result.code).toBe(1);
    } finally {
      server.close();
    }
  });

  it('retries a refused connection (a NetworkPolicy not yet admitting the new pod) for RETRY_SECONDS, 30 in the pod', async () => {
    const [container] = findOne(objects, 'Pod').spec.containers;
    expect(container.env).toContainEqual({ name: 'RETRY_SECONDS', value: '30' });
    const port = await freePort();
    const server: Server = createServer((_req, res) => res.end('{}'));
    const late = setTimeout(() => server.listen(port, '127.0.0.1'), 1500);
    try {
      const result = await runTestPodScript(findOne(objects, 'Pod'), `http://127.0.0.1:${port}`, { RETRY_SECONDS: '15' });
      expect(result.output).toContain('/healthz -> 200');
      expect(result.output).toContain('/livez -> 200');
      expect(result.code).toBe(0);
    } finally {
      clearTimeout(late);
      server.close();
    }
  });

  it('fails when nothing answers', async () => {
    const result = await runTestPodScript(findOne(objects, 'Pod'), `http://127.0.0.1:${await freePort()}`);
    expect(result.output).toMatch(/\/healthz -> TypeError/);
    expect(result.code).toBe(1);
  });
});
