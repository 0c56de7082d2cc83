import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startStandInGpuServer } from './gpu-server.ts';

/** Runs the real relay entry point in front of the stand-in GPU server: one command, no GPU. */
const gpu = await startStandInGpuServer(Number(process.env.DEMO_GPU_PORT ?? 8000));
const relayPort = process.env.RELAY_PORT ?? '5010';
const relay = spawn(process.execPath, [fileURLToPath(new URL('../node/main.ts', import.meta.url))], {
  env: {
    ...process.env,
    RELAY_PORT: relayPort,
    TOKENPLACE_RELAY_UPSTREAM_URL: `http://127.0.0.1:${gpu.port}`,
    TOKENPLACE_RELAY_DRAIN_SECONDS: '0',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});

process.stderr.write(
  [
    '',
    `stand-in GPU server on http://127.0.0.1:${gpu.port}, relay on http://127.0.0.1:${relayPort}`,
    'try:',
    `  curl -N http://127.0.0.1:${relayPort}/v1/chat/completions -H 'content-type: application/json' -d '{"stream":true,"messages":[{"role":"user","content":"hi"}]}'`,
    `  curl http://127.0.0.1:${relayPort}/healthz`,
    `  curl http://127.0.0.1:${relayPort}/metrics`,
    'Ctrl-C stops both.',
    '',
  ].join('\n'),
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => relay.kill(signal));
}
relay.on('exit', async (code) => {
  await gpu.close();
  process.exit(code ?? 0);
});
