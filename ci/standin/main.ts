/**
 * Runs the stand-in GPU server in a container: STANDIN_HOST (default 0.0.0.0), STANDIN_PORT
 * (default 8000, 0 picks a free port). Prints one JSON line with the bound port; exits 0 on SIGTERM.
 */
import { startStandInGpuServer } from '../../relay/demo/gpu-server.ts';

const host = process.env.STANDIN_HOST ?? '0.0.0.0';
const rawPort = process.env.STANDIN_PORT ?? '8000';
const port = Number(rawPort);
if (!/^\d+$/.test(rawPort) || port > 65535) {
  process.stderr.write(`STANDIN_PORT: ${JSON.stringify(rawPort)} is not a TCP port (0-65535)\n`);
  process.exit(2);
}

const server = await startStandInGpuServer(port, host, 5);
process.stdout.write(`${JSON.stringify({ msg: 'stand-in GPU server listening', host, port: server.port })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.server.closeAllConnections();
    void server.close().then(() => process.exit(0));
  });
}
