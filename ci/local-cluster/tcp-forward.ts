/**
 * node tcp-forward.ts LISTEN_PORT TARGET_HOST TARGET_PORT: a plain TCP forwarder on 127.0.0.1.
 * token.place's client.py only talks to http://localhost:PORT; on the GPU host's namespace this
 * forwards that to the relay's NodePort on the LAN. Prints "forwarding" once it listens.
 */
import { connect, createServer } from 'node:net';

const [listenPort, targetHost, targetPort] = process.argv.slice(2);
if (!listenPort || !targetHost || !targetPort) {
  process.stderr.write('usage: node tcp-forward.ts LISTEN_PORT TARGET_HOST TARGET_PORT\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = connect(Number(targetPort), targetHost);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(Number(listenPort), '127.0.0.1', () =>
  process.stdout.write(`forwarding 127.0.0.1:${listenPort} to ${targetHost}:${targetPort}\n`),
);
process.once('SIGTERM', () => process.exit(0));
