import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { totalmem } from 'node:os';
import type { Logger } from 'pino';
import type { RelayConfig } from '../src/config.ts';
import { defaultMaxConnections, memoryMaxConnections } from '../src/connection-cap.ts';

/**
 * The soft open-file limit of this process (RLIMIT_NOFILE), read from /proc/self/limits on
 * Linux. Undefined when it cannot be read or is unlimited.
 */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^Max open files\s+(\d+|unlimited)\s+/m.exec(text);
  if (!match || match[1] === 'unlimited') return undefined;
  return Number(match[1]);
}

export interface ConnectionCap {
  maxConnections: number | undefined;
  /** How the cap was chosen, for the startup log. */
  source: 'setting' | 'open-file limit' | 'memory' | 'none';
  openFileLimit: number | undefined;
  /** The memory the process may use (cgroup limit, else the machine's), when known. */
  memoryBytes?: number;
}

/** The memory this process may use: its cgroup limit (a container's), else the machine's memory. */
export function memoryLimit(): number {
  const total = totalmem();
  const constrained = process.constrainedMemory();
  return constrained > 0 && constrained < total ? constrained : total;
}

/** The configured cap, else the lower of the caps derived from the open-file limit and from memory (see relay/src/connection-cap.ts). */
export function resolveConnectionCap(
  configured: number | undefined,
  limit: number | undefined,
  memoryBytes?: number,
): ConnectionCap {
  const memory = memoryBytes === undefined ? {} : { memoryBytes };
  if (configured !== undefined) return { maxConnections: configured, source: 'setting', openFileLimit: limit, ...memory };
  const byFiles = limit === undefined ? undefined : defaultMaxConnections(limit);
  const byMemory = memoryBytes === undefined ? undefined : memoryMaxConnections(memoryBytes);
  if (byMemory !== undefined && (byFiles === undefined || byMemory < byFiles)) {
    return { maxConnections: byMemory, source: 'memory', openFileLimit: limit, ...memory };
  }
  if (byFiles === undefined) return { maxConnections: undefined, source: 'none', openFileLimit: undefined, ...memory };
  return { maxConnections: byFiles, source: 'open-file limit', openFileLimit: limit, ...memory };
}

/** node:http options that bound how long a client may take to send its request (slowloris). */
export function clientTimeouts(
  config: RelayConfig,
): Pick<ServerOptions, 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval'> {
  return {
    headersTimeout: config.clientHeadersTimeoutMs,
    requestTimeout: config.clientRequestTimeoutMs,
    // Node checks these timeouts on an interval (30 s by default); check often enough to honour short ones.
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.clientHeadersTimeoutMs / 4))),
  };
}

/** At most one warning per interval for a repeated condition, with how often it happened. */
function throttled(logger: Logger, message: string, intervalMs = 10_000): (fields: object) => void {
  let last = 0;
  let suppressed = 0;
  return (fields) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    logger.warn({ ...fields, since: suppressed }, message);
    last = now;
    suppressed = 0;
  };
}

/** Per client connection: requests in progress, and whether it has answered one (so it is a keep-alive connection). */
interface ConnectionState {
  busy: number;
  served: boolean;
}

/**
 * Caps open connections (refused above the cap instead of failing with EMFILE) and keeps
 * the process alive through accept errors: a server 'error' event after listen would otherwise
 * be an uncaught exception. The refusal itself is node:http's (maxConnections), which drops a
 * connection before any socket object exists. So that clients parked on keep-alive cannot lock
 * the kubelet's probes out, the relay never sits at the cap with idle keep-alive connections
 * (answered, waiting for their next request): at the cap the oldest one is closed, keeping a
 * place free for the next newcomer.
 */
export function guardConnections(server: Server, cap: number | undefined, logger: Logger, onRefused: () => void): void {
  const dropped = throttled(logger, 'connection cap reached; refusing new connections');
  if (cap !== undefined) {
    server.maxConnections = cap;
    const open = new Map<Socket, ConnectionState>();
    const live = () => open.size;
    const closeIdle = (socket: Socket) => {
      open.delete(socket);
      socket.destroy();
    };
    const makeRoom = () => {
      // Oldest first: Map iterates in insertion order.
      for (const [socket, state] of open) {
        if (live() < cap) return;
        if (state.busy === 0 && state.served) closeIdle(socket);
      }
    };
    server.on('connection', (socket: Socket) => {
      open.set(socket, { busy: 0, served: false });
      socket.once('close', () => open.delete(socket));
      if (live() >= cap) makeRoom();
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const state = open.get(req.socket);
      if (state === undefined) return;
      state.busy++;
      res.on('close', () => {
        state.busy--;
        state.served = true;
        // At the cap a connection that has just been answered is closed gracefully (its response still flushes).
        if (state.busy === 0 && live() >= cap && !req.socket.destroyed) {
          open.delete(req.socket);
          req.socket.end();
        }
      });
    });
  }
  server.on('drop', () => {
    onRefused();
    dropped({ maxConnections: cap });
  });
  const acceptFailed = throttled(logger, 'could not accept a connection');
  server.on('listening', () => {
    server.on('error', (err: NodeJS.ErrnoException) => acceptFailed({ code: err.code, err: err.message }));
  });
}

const CLIENT_ERRORS: Record<string, { status: number; reason: string; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'headers_too_large',
    message: 'The request headers are too large.',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    code: 'request_timeout',
    message: 'The request was not received in time.',
  },
};
const MALFORMED = { status: 400, reason: 'Bad Request', code: 'bad_request', message: 'Malformed HTTP request.' };

/** Answers a request node:http could not parse or that took too long to arrive, then closes the connection. */
export function answerClientError(logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Socket): void => {
    const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || started) {
      socket.destroy();
      return;
    }
    const answer = CLIENT_ERRORS[err.code ?? ''] ?? MALFORMED;
    logger.debug({ err: err.message, code: err.code, status: answer.status }, 'malformed or slow request from client');
    const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
    socket.end(
      `HTTP/1.1 ${answer.status} ${answer.reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  };
}
