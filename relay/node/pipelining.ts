import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * node:http hands every pipelined request on a connection to the handler as soon as it is
 * parsed (only the responses are queued in order). A request pipelined behind a non-safe one
 * (a POST generating) would reach the GPU host while that one still runs, so it is dispatched
 * only once the non-safe request's response has finished (RFC 9112 section 9.3.2).
 */
export function createPipelineGate(): (req: IncomingMessage, res: ServerResponse, dispatch: () => void) => void {
  const lastUnsafe = new WeakMap<Socket, Promise<void>>();
  return (req, res, dispatch) => {
    const socket = req.socket;
    const prior = lastUnsafe.get(socket);
    if (!SAFE_METHODS.has(req.method ?? '')) {
      const finished = new Promise<void>((resolve) => res.once('close', () => resolve()));
      lastUnsafe.set(socket, finished);
      void finished.then(() => {
        if (lastUnsafe.get(socket) === finished) lastUnsafe.delete(socket);
      });
    }
    if (prior === undefined) dispatch();
    else void prior.then(dispatch);
  };
}
