import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { freePort } from './ports.ts';

/** What the upstream saw of one request: exactly what arrived on its socket. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Header names as sent, in order, alternating with values. */
  rawHeaders: string[];
  /** Filled in as the body arrives. */
  body: Buffer;
  /** Resolves when the request body has been read to the end or the request was torn down. */
  settled: Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void;

export interface TestUpstream {
  server: Server;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  requests: RecordedRequest[];
  /** Replaces how the upstream answers; the default echoes what it received as JSON. */
  handle(handler: UpstreamHandler): void;
  close(): Promise<void>;
}

/** Answers 200 with a JSON description of the request once its body has been read. */
export const echo: UpstreamHandler = (req, res, recorded) => {
  void recorded.settled.then(() => {
    if (res.destroyed) return;
    const body = JSON.stringify({
      method: recorded.method,
      url: recorded.url,
      headers: recorded.headers,
      bodyLength: recorded.body.length,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  req.resume();
};

const open = new Set<TestUpstream>();

/** Closes every upstream started by startUpstream and not closed yet (for afterEach hooks). */
export async function closeAllUpstreams(): Promise<void> {
  await Promise.all([...open].map((upstream) => upstream.close()));
}

/** A node:http server on 127.0.0.1 standing in for the GPU host; records every request it receives. */
export function startUpstream(): Promise<TestUpstream> {
  const requests: RecordedRequest[] = [];
  let current: UpstreamHandler = echo;
  const server = createServer((req, res) => {
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      settled: new Promise((resolve) => {
        req.once('end', resolve);
        req.once('close', resolve);
      }),
    };
    req.on('data', (chunk: Buffer) => {
      recorded.body = Buffer.concat([recorded.body, chunk]);
    });
    requests.push(recorded);
    current(req, res, recorded);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const upstream: TestUpstream = {
        server,
        port,
        url: `http://127.0.0.1:${port}`,
        requests,
        handle(handler) {
          current = handler;
        },
        close() {
          open.delete(upstream);
          server.closeAllConnections();
          return new Promise((done) => server.close(() => done()));
        },
      };
      open.add(upstream);
      resolve(upstream);
    });
  });
}

/** A port nothing listens on, for an upstream URL that refuses connections. */
export const closedPort = freePort;

/**
 * A listener whose accept queue is full, so a new connection attempt gets no answer at all
 * (Linux drops the SYN): the upstream connect timeout's case. A child process listens with
 * a backlog of 1 and blocks its event loop; two connections fill the queue.
 */
export async function startUnreachableUpstream(): Promise<{ port: number; close(): void }> {
  const script = `const server = require('node:net').createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000);
});`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (line: Buffer) => resolve(Number(line.toString().trim())));
  });
  const fillers: Socket[] = [];
  const close = () => {
    for (const socket of fillers) socket.destroy();
    child.kill('SIGKILL');
  };
  try {
    for (let i = 0; i < 2; i++) {
      const socket = connect(port, '127.0.0.1');
      fillers.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    }
  } catch (err) {
    close();
    throw err;
  }
  return { port, close };
}
