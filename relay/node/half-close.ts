/**
 * Clients that half-close (RFC 9112 section 9.6: a client may shut down its sending side after
 * its request and still read the response). node:http ends the connection at the client's FIN
 * unless httpAllowHalfOpen is set, so such a client used to get nothing.
 *
 * A FIN does not tell a half-close from a client that has closed its socket altogether, and the
 * relay must still notice the latter at once: a gone client's request leaves the queue, and its
 * slot shows as orphaned. Only a write can tell them apart (a closed socket answers it with a
 * reset, and the next write fails). So while the response has not started, the relay writes an
 * interim `100 Continue` at the FIN, again right after, and then at growing intervals (10 ms,
 * doubling, at most 1 s): a client that is gone makes a write fail (within a round trip), the
 * socket closes and the request is abandoned as before; a half-closed HTTP/1.1 client skips the
 * 1xx (RFC 9110 section 15.2: a client must be able to parse 1xx responses it did not expect) and
 * reads its response.
 *
 * Where no interim response can be written, a FIN still ends the connection as node:http did
 * (the request is abandoned): from an HTTP/1.0 client (HTTP/1.0 has no 1xx), and once the response
 * has started (a client that half-closes does so right after its request, long before a GPU host
 * answers; a FIN in the middle of a stream is a client leaving).
 */
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const FIRST_PROBE_MS = 10;
const MAX_PROBE_MS = 1_000;

type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

function probeUntilAnswered(socket: HttpSocket): void {
  let delay = FIRST_PROBE_MS;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const probe = () => {
    const res = socket._httpMessage;
    if (socket.destroyed || res == null || res.writableEnded) return;
    if (res.headersSent || res.req.httpVersionMajor !== 1 || res.req.httpVersionMinor < 1) {
      socket.end();
      return;
    }
    res.writeContinue();
    if (immediate === undefined) {
      // A gone client's reset has usually arrived by the next turn of the event loop: the second write fails at once.
      immediate = setImmediate(probe);
      return;
    }
    timer = setTimeout(probe, delay);
    delay = Math.min(delay * 2, MAX_PROBE_MS);
  };
  socket.once('close', () => {
    clearImmediate(immediate);
    clearTimeout(timer);
  });
  probe();
}

/** Lets half-closed clients read their responses, while a client that is gone is still noticed within milliseconds. */
export function serveHalfClosedClients(server: Server): void {
  // Public since Node 0.x, though missing from @types/node.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('connection', (socket: Socket) => {
    // node:http's own 'end' listener runs first: it marks the response in progress as the connection's last.
    socket.once('end', () => probeUntilAnswered(socket));
  });
}
