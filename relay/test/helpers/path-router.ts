/**
 * A stand-in for a load balancer in front of several relay replicas: each request goes to the
 * replica its path is assigned to (the rest to a default one), so a test decides which replica
 * serves which call of an unmodified client.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { freePort } from './ports.ts';

export interface PathRouter {
  port: number;
  close(): Promise<void>;
}

export async function startPathRouter(routes: Record<string, number>, fallbackPort: number): Promise<PathRouter> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const port = routes[path] ?? fallbackPort;
    const upstream = httpRequest(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"replica unreachable","code":502}}');
    });
    req.pipe(upstream);
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
