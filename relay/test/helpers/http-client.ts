import { type ClientRequest, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { deferred, within } from './async.ts';

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  /** The body exactly as it came off the wire after de-chunking: never decompressed. */
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
  /** Sends the body as chunked pieces without a content-length. */
  chunks?: (Buffer | string)[];
  /** The client's own address (another loopback address such as 127.0.0.2 makes a different peer). */
  localAddress?: string;
}

/** A node:http request on a fresh connection (no agent, no decoding), read to the end. */
export function send(port: number, options: RequestOptions = {}, ms = 5_000): Promise<ClientResponse> {
  const done = deferred<ClientResponse>();
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method: options.method ?? 'GET',
    path: options.path ?? '/',
    headers: options.headers,
    localAddress: options.localAddress,
    agent: false,
  });
  req.once('error', done.reject);
  req.once('response', (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.once('error', done.reject);
    res.once('aborted', () => done.reject(new Error('response aborted')));
    res.once('end', () =>
      done.resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        rawHeaders: res.rawHeaders,
        body: Buffer.concat(chunks),
      }),
    );
  });
  if (options.chunks) {
    for (const chunk of options.chunks) req.write(chunk);
    req.end();
  } else {
    req.end(options.body);
  }
  return within(done.promise, ms, `${options.method ?? 'GET'} ${options.path ?? '/'}`).finally(() => req.destroy());
}

export async function getJson(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const res = await send(port, { path });
  return { status: res.status, body: JSON.parse(res.body.toString('utf8')) };
}

/** A response read while it streams: the test can wait for a piece of text before letting the upstream go on. */
export interface StreamingResponse {
  req: ClientRequest;
  res: IncomingMessage;
  received(): string;
  waitFor(text: string, ms: number): Promise<void>;
  /** Resolves with everything received once the body ends; rejects if the response is cut off. */
  ended: Promise<string>;
}

export function openStream(port: number, options: RequestOptions = {}, ms = 5_000): Promise<StreamingResponse> {
  const opened = deferred<StreamingResponse>();
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method: options.method ?? 'GET',
    path: options.path ?? '/',
    headers: options.headers,
    agent: false,
  });
  req.once('error', opened.reject);
  req.once('response', (res) => {
    let text = '';
    const listeners = new Set<() => void>();
    const ended = deferred<string>();
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      for (const listener of listeners) listener();
    });
    res.once('end', () => ended.resolve(text));
    res.once('aborted', () => ended.reject(new Error(`response cut off after: ${JSON.stringify(text)}`)));
    res.once('error', (err) => ended.reject(err));
    ended.promise.catch(() => undefined);
    opened.resolve({
      req,
      res,
      received: () => text,
      ended: ended.promise,
      waitFor(expected, waitMs) {
        const seen = deferred<void>();
        const check = () => {
          if (text.includes(expected)) seen.resolve();
        };
        listeners.add(check);
        check();
        return within(seen.promise, waitMs, `client to receive ${JSON.stringify(expected)}; got ${JSON.stringify(text)}`).finally(
          () => listeners.delete(check),
        );
      },
    });
  });
  req.end(options.body);
  return within(opened.promise, ms, `response headers of ${options.method ?? 'GET'} ${options.path ?? '/'}`);
}

export interface RawResponse {
  status: number;
  /** Header names lowercased, in order, repeats kept. */
  headers: [string, string][];
  body: Buffer;
  /** Everything that came back on the socket. */
  raw: Buffer;
}

export function header(res: RawResponse, name: string): string[] {
  return res.headers.filter(([key]) => key === name).map(([, value]) => value);
}

/** The de-chunked body, or undefined until the terminating chunk (and the empty trailer section) arrived. */
function dechunk(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    offset = lineEnd + 2;
    if (size === 0) return data.indexOf('\r\n\r\n', lineEnd) >= 0 ? Buffer.concat(parts) : undefined;
    parts.push(data.subarray(offset, offset + size));
    offset += size + 2;
  }
}

/**
 * Parses one HTTP/1.1 response. Returns undefined while it is incomplete: the head has not
 * ended, fewer bytes than content-length arrived, or the last chunk has not come yet.
 * A response with neither framing is complete only when the server closes (closed = true).
 */
export function parseRawResponse(raw: Buffer, closed: boolean): RawResponse | undefined {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const rest = raw.subarray(headEnd + 4);
  const chunked = headers.some(([name, value]) => name === 'transfer-encoding' && /chunked/i.test(value));
  if (chunked) {
    const body = dechunk(rest);
    return body && { status, headers, body, raw };
  }
  const length = headers.find(([name]) => name === 'content-length');
  if (length) {
    const size = Number(length[1]);
    return rest.length >= size ? { status, headers, body: rest.subarray(0, size), raw } : undefined;
  }
  return closed ? { status, headers, body: rest, raw } : undefined;
}

/** Writes bytes exactly as given to the relay's socket and reads one response. */
export function sendRaw(port: number, bytes: string | Buffer, ms = 5_000): Promise<RawResponse> {
  const done = deferred<RawResponse>();
  const socket = connect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  const check = (closed: boolean) => {
    const parsed = parseRawResponse(received, closed);
    if (parsed) done.resolve(parsed);
    else if (closed) done.reject(new Error(`connection closed mid-response: ${JSON.stringify(received.toString('latin1'))}`));
  };
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    check(false);
  });
  socket.once('end', () => check(true));
  socket.once('error', done.reject);
  socket.write(bytes);
  return within(done.promise, ms, 'a complete response from the relay').finally(() => socket.destroy());
}
