/**
 * The default cap on open client connections, derived from the process's open-file limit so
 * that the relay refuses new connections before it runs out of file descriptors (EMFILE).
 *
 * Each client connection can hold two descriptors: its own socket, and one upstream socket
 * while its request is in flight (upstream sockets are pooled, so never more than one per
 * request). A reserve is kept for the runtime itself: stdio, the event loop, the listening
 * socket, log output, DNS and TLS, idle keep-alive sockets to the GPU hosts. So:
 *
 *   cap = floor((limit - reserve) / 2), reserve = min(64, floor(limit / 4)), at least 1.
 *
 * With the usual soft limit of 1024 that is 480; with 65536, 32736.
 *
 * Memory bounds it too: an idle client connection costs about 13-16 KiB (socket, parser,
 * buffers), so half of the memory the process may use goes to connections at 16 KiB each:
 *
 *   memory cap = floor(memory / 2 / 16 KiB), so 8192 under a 256 MiB limit.
 */
export const FDS_PER_CONNECTION = 2;
export const MAX_FD_RESERVE = 64;

export function defaultMaxConnections(openFileLimit: number): number {
  const reserve = Math.min(MAX_FD_RESERVE, Math.floor(openFileLimit / 4));
  return Math.max(1, Math.floor((openFileLimit - reserve) / FDS_PER_CONNECTION));
}

export const BYTES_PER_CONNECTION = 16 * 1024;

export function memoryMaxConnections(memoryBytes: number): number {
  return Math.max(1, Math.floor(memoryBytes / 2 / BYTES_PER_CONNECTION));
}
