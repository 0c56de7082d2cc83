/**
 * The smallest possible Node proxies, one per upstream client, to show what the client choice
 * costs before any relay logic: `node naive-proxy.ts <fetch|request|stream> <port> <upstream>`.
 * Run by bench.ts; not part of the relay.
 */
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { Agent, request, stream } from 'undici';

const [client, port, upstream] = process.argv.slice(2) as [string, string, string];
const agent = new Agent({ keepAliveTimeout: 4_000 });

const server = createServer((req, res) => {
  const url = `${upstream}${req.url}`;
  const fail = () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  };
  if (client === 'fetch') {
    fetch(url, { method: req.method }).then((answer) => {
      res.writeHead(answer.status, Object.fromEntries(answer.headers));
      if (answer.body) Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream).pipe(res);
      else res.end();
    }, fail);
  } else if (client === 'request') {
    request(url, { method: req.method as 'GET', dispatcher: agent }).then(({ statusCode, headers, body }) => {
      res.writeHead(statusCode, headers);
      body.pipe(res);
    }, fail);
  } else {
    stream(url, { method: req.method as 'GET', dispatcher: agent }, ({ statusCode, headers }) => {
      res.writeHead(statusCode, headers);
      return res;
    }).catch(fail);
  }
});
server.listen(Number(port), '127.0.0.1');
