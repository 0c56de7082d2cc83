/**
 * Throughput and latency of the same upstream reached (a) directly, (b) through nginx
 * proxy_pass with upstream keep-alive (1 worker), (c) through the relay (1 process, compiled as
 * the image runs it), and, to show what the upstream client alone costs, (ref) minimal Node
 * proxies built on fetch, undici.request and undici.stream, and (peer) the Node reverse proxies a
 * user would pick instead (fastify + @fastify/http-proxy, http-proxy), which are also measured
 * against the relay in alternation and at the same time (relay at least as fast as the faster); then (d), (e) the relay with
 * registration and admission control on; last, the token.place protocol against relay.py
 * (tokenplace/, also runnable alone with `npm run bench:tokenplace`).
 * Run with `npm run bench`; needs Debian's nginx, wrk and python3-gunicorn. Writes docs/benchmarks.md.
 *
 *   BENCH_SECONDS      seconds per saturation run (default 10)
 *   BENCH_CONNECTIONS  concurrent connections (default 50)
 *   BENCH_ROUNDS       runs (of BENCH_SECONDS / 2) per row wherever two targets are compared, in turn and at the same time (default 5)
 *   BENCH_WRITE=0      print the table without rewriting docs/benchmarks.md
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { benchAdmission } from './admission.ts';
import { buildRelay, COMPILED_MAIN, IMAGE_NODE_FLAGS } from './compiled-relay.ts';
import { atRate, CONNECTIONS, type Load, need, progress, SECONDS, wrk } from './load.ts';
import { rssMb } from './memory.ts';
import { findFreePort, waitForHttp } from './net.ts';
import { benchPeers } from './peers.ts';
import { replaceSection } from './report.ts';
import { benchAndReport } from './tokenplace/run.ts';

const PAYLOAD = 'x'.repeat(512);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const children: ChildProcess[] = [];
function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}
process.on('exit', () => {
  // SIGTERM, not SIGKILL: an nginx master only takes its workers down when it can handle the signal.
  for (const child of children) child.kill('SIGTERM');
});

function nginxConfig(dir: string, server: string): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(
    path,
    `daemon off;
worker_processes 1;
pid ${path}.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  keepalive_requests 1000000;
  ${server}
}
`,
  );
  return path;
}

const dir = mkdtempSync(join(tmpdir(), 'relay-bench-'));
const nginx = need('nginx');
const upstreamPort = await findFreePort();
const proxyPort = await findFreePort();
const relayPort = await findFreePort();

start(nginx, [
  '-e',
  'stderr',
  '-c',
  nginxConfig(
    dir,
    `server { listen 127.0.0.1:${upstreamPort}; location / { default_type text/plain; return 200 "${PAYLOAD}"; } }`,
  ),
]);
start(nginx, [
  '-e',
  'stderr',
  '-c',
  nginxConfig(
    dir,
    `upstream gpu { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server { listen 127.0.0.1:${proxyPort}; location / { proxy_pass http://gpu; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
  ),
]);
buildRelay();
const relay = start(process.execPath, [...IMAGE_NODE_FLAGS, COMPILED_MAIN], {
  ...process.env,
  RELAY_HOST: '127.0.0.1',
  RELAY_PORT: String(relayPort),
  TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${upstreamPort}`,
  TOKENPLACE_RELAY_DRAIN_SECONDS: '0',
  // The relay core: no admission limit, no registration (row (d) below measures those).
  TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY: '0',
  NODE_ENV: 'production',
});
const peerProxies = ['fastify-http-proxy', 'http-proxy'] as const;
type PeerProxy = (typeof peerProxies)[number];
const peerPorts = {} as Record<PeerProxy, number>;
const peerPids = {} as Record<PeerProxy, number>;
for (const peer of peerProxies) {
  peerPorts[peer] = await findFreePort();
  peerPids[peer] = start(process.execPath, [
    '--no-deprecation',
    join(repoRoot, 'relay/bench/peer-proxy.ts'),
    peer,
    String(peerPorts[peer]),
    `http://127.0.0.1:${upstreamPort}`,
  ]).pid as number;
}
const peerLabel: Record<PeerProxy, string> = {
  'fastify-http-proxy': `fastify ${packageVersion('fastify')} + @fastify/http-proxy ${packageVersion('@fastify/http-proxy')}`,
  'http-proxy': `http-proxy ${packageVersion('http-proxy')} (node-http-proxy)`,
};
const naiveClients = ['fetch', 'request', 'stream'] as const;
const naivePorts: Record<string, number> = {};
for (const client of naiveClients) {
  naivePorts[client] = await findFreePort();
  start(process.execPath, [
    join(repoRoot, 'relay/bench/naive-proxy.ts'),
    client,
    String(naivePorts[client]),
    `http://127.0.0.1:${upstreamPort}`,
  ]);
}

const direct = `http://127.0.0.1:${upstreamPort}/v1/models`;
const viaNginx = `http://127.0.0.1:${proxyPort}/v1/models`;
const viaRelay = `http://127.0.0.1:${relayPort}/v1/models`;
const viaNaive = (client: string) => `http://127.0.0.1:${naivePorts[client]}/v1/models`;
const viaPeer = (peer: PeerProxy) => `http://127.0.0.1:${peerPorts[peer]}/v1/models`;
await waitForHttp(direct);
await waitForHttp(viaNginx);
await waitForHttp(`http://127.0.0.1:${relayPort}/healthz`);
for (const client of naiveClients) await waitForHttp(viaNaive(client));
for (const peer of peerProxies) await waitForHttp(viaPeer(peer));

// Warm up the JIT and connection pools before measuring.
progress('warming up');
await autocannon({ url: viaRelay, connections: CONNECTIONS, duration: 3 });
for (const client of naiveClients) await autocannon({ url: viaNaive(client), connections: CONNECTIONS, duration: 1 });
for (const peer of peerProxies) await autocannon({ url: viaPeer(peer), connections: CONNECTIONS, duration: 3 });

const loadBefore = loadavg()[0];
progress('saturation runs');
const saturation = { direct: wrk(direct), nginx: wrk(viaNginx), relay: wrk(viaRelay) };
const peers = Object.fromEntries(peerProxies.map((peer) => [peer, wrk(viaPeer(peer))])) as Record<PeerProxy, Load>;
const relayRss = rssMb(relay.pid as number);
const naive = Object.fromEntries(naiveClients.map((client) => [client, wrk(viaNaive(client))])) as Record<
  (typeof naiveClients)[number],
  Load
>;
const half = Math.round(saturation.relay.rps / 2);
progress(`latency at ${half} requests/s`);
const latency = { direct: await atRate(direct, half), relay: await atRate(viaRelay, half) };
const relayRssAfter = rssMb(relay.pid as number);
const loadAfter = loadavg()[0];

const fmt = (n: number, digits = 0) => n.toFixed(digits);
const ratio = saturation.relay.rps / saturation.nginx.rps;
const addedP99 = latency.relay.p99 - latency.direct.p99;
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpu}, Node ${process.versions.node}, ` +
    `wrk 1 thread / ${CONNECTIONS} connections / ${SECONDS} s per row, ${PAYLOAD.length}-byte response from an nginx upstream. ` +
    `Load average (1 min) ${fmt(loadBefore, 2)} before the saturation runs, ${fmt(loadAfter, 2)} after the latency runs.`,
  '',
  '| path | requests/s | p50 ms | p99 ms | vs nginx |',
  '| --- | ---: | ---: | ---: | ---: |',
  `| (a) direct to upstream | ${fmt(saturation.direct.rps)} | ${fmt(saturation.direct.p50, 2)} | ${fmt(saturation.direct.p99, 2)} | |`,
  `| (b) nginx proxy_pass, keep-alive, 1 worker | ${fmt(saturation.nginx.rps)} | ${fmt(saturation.nginx.p50, 2)} | ${fmt(saturation.nginx.p99, 2)} | 1.00× |`,
  `| (c) relay, 1 process | ${fmt(saturation.relay.rps)} | ${fmt(saturation.relay.p50, 2)} | ${fmt(saturation.relay.p99, 2)} | ${fmt(ratio, 2)}× |`,
  ...peerProxies.map(
    (peer) =>
      `| (peer) ${peerLabel[peer]}, plain reverse proxy | ${fmt(peers[peer].rps)} | ${fmt(peers[peer].p50, 2)} | ` +
      `${fmt(peers[peer].p99, 2)} | ${fmt(peers[peer].rps / saturation.nginx.rps, 2)}× |`,
  ),
  ...naiveClients.map(
    (client) =>
      `| (ref) minimal Node proxy, ${client === 'fetch' ? 'fetch' : `undici.${client}`}, no relay logic | ${fmt(naive[client].rps)} | ` +
      `${fmt(naive[client].p50, 2)} | ${fmt(naive[client].p99, 2)} | ${fmt(naive[client].rps / saturation.nginx.rps, 2)}× |`,
  ),
  '',
  `At half the relay's maximum (${half} requests/s, autocannon, 10 connections): direct p99 ${fmt(latency.direct.p99, 2)} ms, ` +
    `relay p99 ${fmt(latency.relay.p99, 2)} ms, so the relay adds **${fmt(addedP99, 2)} ms** at p99.`,
  '',
  `Relay RSS under load: ${fmt(relayRss.current)} MB after the saturation runs (${fmt(relayRss.anon)} MB anonymous: heap and buffers; ` +
    `${fmt(relayRss.file)} MB file-backed: mostly the node binary's code), ${fmt(relayRssAfter.peak)} MB peak (VmHWM).`,
  '',
  "Targets: relay throughput ≥ 0.5× nginx; p99 added latency < 5 ms at half the relay's maximum; RSS < 100 MB under load.",
].join('\n');

process.stdout.write(`${table}\n`);
if (process.env.BENCH_WRITE !== '0') {
  const file = join(repoRoot, 'docs/benchmarks.md');
  replaceSection(file, 'Relay throughput', `Produced by \`npm run bench\`.\n\n${table}`);
  process.stdout.write(`wrote ${file}\n`);
}

// ---- The relay against the Node proxies a user would pick instead, measured in alternation. ----
const peerTable = await benchPeers(
  {
    name: 'relay',
    label: '(c) relay, 1 process (all its checks, one log line and metrics per request)',
    url: viaRelay,
    pid: relay.pid as number,
  },
  peerProxies.map((peer) => ({ name: peer, label: peerLabel[peer], url: viaPeer(peer), pid: peerPids[peer] })),
  PAYLOAD.length,
);
process.stdout.write(`${peerTable.text}\n`);
if (process.env.BENCH_WRITE !== '0') {
  replaceSection(
    join(repoRoot, 'docs/benchmarks.md'),
    'The relay and the Node proxies a user would pick instead',
    peerTable.text,
  );
}

// ---- (d) The relay with registration and admission control on, against the core row (c). ----
const admissionTable = await benchAdmission({
  first: saturation.relay,
  core: { url: viaRelay, pid: relay.pid as number },
  upstreamPort,
  payloadBytes: PAYLOAD.length,
  startRelay: (env) => start(process.execPath, [...IMAGE_NODE_FLAGS, COMPILED_MAIN], { ...process.env, ...env }),
});
process.stdout.write(`${admissionTable}\n`);
if (process.env.BENCH_WRITE !== '0') {
  replaceSection(join(repoRoot, 'docs/benchmarks.md'), 'Registration and admission overhead', admissionTable);
}

progress('token.place protocol, relay.py and the relay');
const protocolMeasured = await benchAndReport({ build: false });
process.exit(protocolMeasured && peerTable.relayAhead ? 0 : 1);

function packageVersion(name: string): string {
  return JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')).version;
}
