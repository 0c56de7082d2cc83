/**
 * A stand-in for a load balancer in front of several relay replicas: each request goes to the
 * replicas its path is assigned to (the rest to the default ones), the first that accepts the
 * connection, as a Service skips a dead pod. A test thus decides which replica serves which call
 * of an unmodified client.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { freePort } from './ports.ts';

export interface PathRouter {
  port: number;
  close(): Promise<void>;
}

type Ports = number | number[];

function forward(req: IncomingMessage, body: Buffer, res: ServerResponse, ports: number[]): void {
  const [port, ...rest] = ports;
  if (port === undefined) {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"no replica reachable","code":502}}');
    return;
  }
  const upstream = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    // Only a refused connection is retried elsewhere: the replica never saw the request.
    if (err.code === 'ECONNREFUSED' && !res.headersSent) return forward(req, body, res, rest);
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"replica failed","code":502}}');
  });
  upstream.end(body);
}

export async function startPathRouter(routes: Record<string, Ports>, fallback: Ports): Promise<PathRouter> {
  const list = (ports: Ports) => (Array.isArray(ports) ? ports : [ports]);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => forward(req, Buffer.concat(chunks), res, list(routes[path] ?? fallback)));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
