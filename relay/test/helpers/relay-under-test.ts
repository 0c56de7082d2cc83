import { eventually } from './async.ts';
import { send } from './http-client.ts';
import { type PeerProcess, startPeer } from './peer-process.ts';
import { freePort } from './ports.ts';
import { type RelayProcess, startRelay } from './relay-process.ts';

/**
 * Which relay the peer tests run against: ours (relay/node/main.ts) by default, token.place's reference relay.py with
 * TOKENPLACE_E2E_RELAY=reference.
 */
export type RelayKind = 'ours' | 'reference';

export function relayKind(): RelayKind {
  const value = process.env.TOKENPLACE_E2E_RELAY ?? 'ours';
  if (value !== 'ours' && value !== 'reference') {
    throw new Error(`TOKENPLACE_E2E_RELAY must be "ours" or "reference", got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Settings every relay under test gets: short long polls, rate limits no test reaches, and registration open to nodes
 * without a token, which relay.py always allows when no token is set and ours only with TOKENPLACE_RELAY_OPEN_REGISTRATION.
 */
const PEER_TEST_DEFAULTS: Record<string, string> = {
  TOKENPLACE_RELAY_OPEN_REGISTRATION: 'true',
  TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: '2',
  API_RATE_LIMIT: '100000/hour',
  API_DAILY_QUOTA: '1000000/day',
};

export interface RegisteredNode {
  server_public_key: string;
}

export interface Diagnostics {
  api_v1_registered_compute_nodes: RegisteredNode[];
  total_api_v1_registered_compute_nodes: number;
}

export interface JsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export interface RelayUnderTest {
  kind: RelayKind;
  port: number;
  /** http://127.0.0.1:<port>, what server.py is given. */
  url: string;
  /** Our relay's process, when the relay is ours. */
  ours?: RelayProcess;
  output(): string;
  /** Whether the relay has logged, so far, that it answered a request for path with status. */
  answered(path: string, status: number): boolean;
  /** Waits until the relay logs that it answered a request for path with status (our relay writes its log in batches). */
  waitForAnswer(path: string, status: number, ms?: number): Promise<void>;
  diagnostics(): Promise<Diagnostics>;
  nodeKeys(): Promise<string[]>;
  postJson(path: string, body: unknown, headers?: Record<string, string>, ms?: number): Promise<JsonResponse>;
  stop(): Promise<void>;
}

export async function startRelayUnderTest(env: Record<string, string> = {}): Promise<RelayUnderTest> {
  const settings = { ...PEER_TEST_DEFAULTS, ...env };
  return relayKind() === 'reference' ? startReference(settings) : startOurs(settings);
}

async function startOurs(env: Record<string, string>): Promise<RelayUnderTest> {
  // The protocol routes log their requests at debug level; answered() reads those lines.
  const relay = await startRelay({ TOKENPLACE_RELAY_LOG_LEVEL: 'debug', ...env });
  const answered = (path: string, status: number) =>
    relay.logs().some((line) => line.msg === 'request' && line.path === path && line.status === status);
  const output = () => `${relay.stdout()}${relay.stderr()}`;
  return {
    ...common(relay.port, answered, output),
    kind: 'ours',
    ours: relay,
    stop: async () => {
      await relay.stop();
    },
  };
}

async function startReference(env: Record<string, string>): Promise<RelayUnderTest> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const relay = startPeer('relay.py', ['relay', String(port)], env);
    try {
      await waitForDiagnostics(port, relay);
    } catch (err) {
      await relay.stop(1_000);
      // Someone else took the port between freePort and relay.py's listen: try another.
      if (relay.output().includes('Address already in use') && attempt < 3) continue;
      throw err;
    }
    const answered = (path: string, status: number) =>
      referenceLog(relay).some((line) => line.http_path === path && line.http_status === status);
    return {
      ...common(port, answered, relay.output),
      kind: 'reference',
      stop: async () => {
        await relay.stop();
      },
    };
  }
}

async function waitForDiagnostics(port: number, relay: PeerProcess): Promise<void> {
  await eventually(
    async () => {
      if (!relay.running()) throw new Error(`relay.py exited while starting; its output:\n${relay.output()}`);
      const res = await send(port, { path: '/relay/diagnostics' }, 1_000).catch(() => undefined);
      // Only an answer relay.py logged counts: another test's relay may have taken the port first.
      return res?.status === 200 && referenceLog(relay).some((line) => line.http_path === '/relay/diagnostics')
        ? true
        : undefined;
    },
    20_000,
    `relay.py to answer /relay/diagnostics on port ${port}; its output:\n${relay.output()}`,
  );
}

/** relay.py's JSON log lines about finished HTTP requests. */
function referenceLog(relay: PeerProcess): Record<string, unknown>[] {
  return relay
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((line) => line.message === 'http.request');
}

type Common = 'port' | 'url' | 'diagnostics' | 'nodeKeys' | 'postJson' | 'answered' | 'waitForAnswer' | 'output';

function common(port: number, answered: RelayUnderTest['answered'], output: () => string): Pick<RelayUnderTest, Common> {
  async function diagnostics(): Promise<Diagnostics> {
    const res = await send(port, { path: '/relay/diagnostics' });
    if (res.status !== 200) throw new Error(`/relay/diagnostics answered ${res.status}: ${res.body.toString('utf8')}`);
    return JSON.parse(res.body.toString('utf8')) as Diagnostics;
  }
  async function postJson(path: string, body: unknown, headers: Record<string, string> = {}, ms = 5_000): Promise<JsonResponse> {
    const res = await send(
      port,
      { method: 'POST', path, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) },
      ms,
    );
    const text = res.body.toString('utf8');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Kept as text: relay.py answers some errors with HTML pages.
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }
  const waitForAnswer = async (path: string, status: number, ms = 3_000) => {
    await eventually(
      async () => (answered(path, status) ? true : undefined),
      ms,
      `the relay to log ${status} for ${path}:\n${output()}`,
    );
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    answered,
    waitForAnswer,
    output,
    diagnostics,
    nodeKeys: async () => (await diagnostics()).api_v1_registered_compute_nodes.map((node) => node.server_public_key),
    postJson,
  };
}
