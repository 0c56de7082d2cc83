import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { IMAGES } from '../src/images.ts';
import { STANDIN_CONTEXT } from '../src/project.ts';
import { judgeLabels, judgeSmoke, parseSmoke, smokeScript } from '../src/smoke.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The stand-in GPU server's container entry point, as a real process on loopback. */
async function startStandin(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['ci/standin/main.ts'], {
    env: { ...process.env, STANDIN_HOST: '127.0.0.1', STANDIN_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  const { port } = JSON.parse(line.toString().split('\n')[0]) as { port: number };
  return { child, port };
}

async function startRelay(upstream: string): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['relay/node/main.ts'], {
    env: {
      ...process.env,
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: String(port),
      TOKENPLACE_RELAY_UPSTREAM_URL: upstream,
      TOKENPLACE_RELAY_DRAIN_SECONDS: '0',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return `http://127.0.0.1:${port}`;
}

function smoke(baseUrl: string, readySeconds = 15): string {
  const result = spawnSync('sh', ['-c', smokeScript(baseUrl, readySeconds)], { encoding: 'utf8' });
  expect(result.status).toBe(0);
  return result.stdout;
}

describe('stand-in GPU server entry point', () => {
  it('serves the model list and exits 0 on SIGTERM', async () => {
    const { child, port } = await startStandin();
    const response = await fetch(`http://127.0.0.1:${port}/v1/models`);
    expect(await response.json()).toEqual({ object: 'list', data: [{ id: 'stand-in', object: 'model' }] });
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('exits 2 naming the variable when the port is bad', () => {
    const result = spawnSync(process.execPath, ['ci/standin/main.ts'], {
      env: { ...process.env, STANDIN_PORT: 'eighty' },
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('STANDIN_PORT: "eighty" is not a TCP port (0-65535)\n');
  });

  it('is built from a Dockerfile on the same pinned Node image, with a context of existing files', () => {
    const dockerfile = readFileSync('ci/standin/Dockerfile', 'utf8');
    expect(dockerfile).toContain(`ARG NODE_IMAGE=${IMAGES.node}\n`);
    for (const path of STANDIN_CONTEXT) expect(() => readFileSync(path)).not.toThrow();
    for (const copied of dockerfile.matchAll(/^COPY (\S+) /gm)) expect(STANDIN_CONTEXT).toContain(copied[1]);
  });
});

describe('smoke script and judge, against the real relay on loopback', () => {
  it('passes a relay in front of the stand-in GPU server', async () => {
    const { port } = await startStandin();
    const output = smoke(await startRelay(`http://127.0.0.1:${port}`));
    expect(judgeSmoke(output)).toEqual({ ok: true, detail: '/healthz, /livez, /v1/models, /metrics answered as expected' });
    expect(parseSmoke(output).get('metrics')?.body).toMatch(/^tokenplace_relay_requests_total\{/m);
  }, 30_000);

  it('fails, naming the request, when the relay cannot reach its upstream', async () => {
    const output = smoke(await startRelay(`http://127.0.0.1:${await freePort()}`));
    const verdict = judgeSmoke(output);
    expect(verdict.ok).toBe(false);
    expect(verdict.detail).toMatch(/^GET \/v1\/models: status 50\d, expected 200/);
  }, 30_000);

  it('records an unreachable relay as status 000', () => {
    expect(judgeSmoke(smoke('http://127.0.0.1:9', 1)).detail).toMatch(/^GET \/healthz: status 0, expected 200/);
  }, 30_000);
});

describe('label judge', () => {
  it('names each label that differs', () => {
    expect(judgeLabels({ a: '1', b: '2' }, { a: '1', b: '2' }).ok).toBe(true);
    expect(judgeLabels({ a: '1' }, { a: '1', b: '2' }).detail).toBe('image labels differ: b=null (expected "2")');
  });
});
