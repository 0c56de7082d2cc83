/**
 * The Node reverse proxies a user would pick instead of the relay, each as a plain reverse proxy
 * in front of one upstream, configured as their documentation shows:
 * `node peer-proxy.ts <fastify-http-proxy|http-proxy> <port> <upstream>`.
 *
 * - fastify-http-proxy: fastify (logger off, its default) with @fastify/http-proxy on "/", which
 *   forwards through @fastify/reply-from's undici pool (keep-alive).
 * - http-proxy: node-http-proxy's proxy.web() in an http.createServer handler, with a keep-alive
 *   agent and `xfwd` (it adds X-Forwarded-For/-Port/-Proto, as the relay does).
 *
 * Neither logs, counts or limits anything. Run by bench.ts; not part of the relay.
 */
import { Agent, createServer } from 'node:http';
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import httpProxy from 'http-proxy';

const [kind, port, upstream] = process.argv.slice(2) as [string, string, string];

if (kind === 'fastify-http-proxy') {
  const app = Fastify({ logger: false });
  await app.register(proxy, { upstream });
  await app.listen({ port: Number(port), host: '127.0.0.1' });
} else if (kind === 'http-proxy') {
  const forward = httpProxy.createProxyServer({
    target: upstream,
    xfwd: true,
    agent: new Agent({ keepAlive: true, maxSockets: 256 }),
  });
  forward.on('error', (_error, _req, res) => {
    if ('writeHead' in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  createServer((req, res) => forward.web(req, res)).listen(Number(port), '127.0.0.1');
} else {
  process.stderr.write(`peer-proxy: unknown proxy ${kind}\n`);
  process.exit(2);
}
