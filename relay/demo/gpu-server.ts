import { createServer, type Server } from 'node:http';

/**
 * A stand-in for the GPU host's server.py: an OpenAI-style chat endpoint that streams
 * tokens as Server-Sent Events, for demos and tests on machines without a GPU.
 */
export interface StandInGpuServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

const REPLY = 'Hello from the stand-in GPU server. The relay streamed every one of these tokens to you.';

function tokens(text: string): string[] {
  return text.split(/(?<= )/);
}

export function startStandInGpuServer(port = 0, host = '127.0.0.1', tokenDelayMs = 40): Promise<StandInGpuServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      if (req.method === 'GET' && url.pathname === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'stand-in', object: 'model' }] }));
        return;
      }
      if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'not_found', message: `${req.method} ${url.pathname} is not served here` } }));
        return;
      }
      let body: { stream?: boolean } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'bad_json', message: 'request body is not JSON' } }));
        return;
      }
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: REPLY } }] }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const parts = tokens(REPLY);
      let index = 0;
      const timer = setInterval(() => {
        if (index < parts.length) {
          const delta = { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: parts[index] } }] };
          res.write(`data: ${JSON.stringify(delta)}\n\n`);
          index++;
          return;
        }
        clearInterval(timer);
        res.end('data: [DONE]\n\n');
      }, tokenDelayMs);
      res.on('close', () => clearInterval(timer));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve({
        server,
        port: typeof address === 'object' && address ? address.port : port,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
