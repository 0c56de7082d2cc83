import { readFileSync } from 'node:fs';
import { ConfigError, describeConfig, loadConfig } from '../src/config.ts';
import { memoryLimit, openFileLimit, resolveConnectionCap } from './connection-limits.ts';
import { createLogger } from './logger.ts';
import { createPromMetrics } from './prom-metrics.ts';
import { createRelayServer } from './server.ts';

/** The image sets TOKENPLACE_RELAY_VERSION; otherwise the version comes from the package.json above this file (source or compiled). */
function packageVersion(): string {
  if (process.env.TOKENPLACE_RELAY_VERSION) return process.env.TOKENPLACE_RELAY_VERSION;
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === 'tokenplace-relay' && manifest.version) return manifest.version;
    } catch {
      // Not at this level; try the next.
    }
  }
  return 'unknown';
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`tokenplace-relay: invalid configuration: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

// The connection cap defaults to what the open-file limit allows (see relay/src/connection-cap.ts).
const connectionCap = resolveConnectionCap(config.maxConnections, openFileLimit(), memoryLimit());
config = { ...config, maxConnections: connectionCap.maxConnections };

const { logger, accessLog, flushSync } = createLogger(config.logLevel);
const version = packageVersion();
// The Redis client is loaded only for a shared state store.
const createRedisStore =
  config.tokenplace.stateUrl === undefined ? undefined : (await import('./redis-store/connect.ts')).createRedisStore;
const relay = createRelayServer({
  config,
  logger,
  accessLog,
  metrics: createPromMetrics(),
  version,
  createRedisStore,
});

function exit(code: number): never {
  flushSync();
  process.exit(code);
}

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) {
      logger.warn({ signal }, 'second signal; exiting now');
      exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutdown requested');
    relay.shutdown().then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  });
}

process.on('uncaughtException', (err) => {
  logger.fatal({ err }, 'uncaught exception');
  exit(1);
});

relay.listen().then(
  (port) => logger.info({ port, version, config: describeConfig(config), connectionCap }, 'relay listening'),
  (err: unknown) => {
    logger.fatal({ err }, 'could not listen');
    exit(1);
  },
);
