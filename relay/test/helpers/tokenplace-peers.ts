import { createHash } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';
import { eventually } from './async.ts';
import { type PeerProcess, startPeer } from './peer-process.ts';
import { type RelayUnderTest, startRelayUnderTest } from './relay-under-test.ts';

/** server.py: a real compute node with the mock LLM, dialling out to the relay under test. */
export interface ComputeNode {
  peer: PeerProcess;
  /** sha256(public key)[:12], as server.py logs it. */
  fingerprint(): Promise<string>;
  /** Waits until /relay/diagnostics lists this node; resolves with its public key. */
  registered(ms?: number): Promise<string>;
  /** Whether /relay/diagnostics lists this node now. */
  listed(): Promise<boolean>;
}

export interface ChatAnswer {
  text: string;
  /** performance.now() when the answer was printed. */
  at: number;
}

/** client.py: reads prompts on stdin and prints the assistant's answers. */
export interface ChatClient {
  peer: PeerProcess;
  /** Sends one prompt; resolves with the "Assistant: ..." line, fails on "Failed to get response from the server.". */
  ask(prompt: string, ms?: number): Promise<ChatAnswer>;
}

/** What a peer test starts: one relay under test and token.place's programs, stopped together. */
export class PeerBench {
  relay: RelayUnderTest | undefined;
  readonly peers: PeerProcess[] = [];
  #nodes = 0;
  #clients = 0;

  async startRelay(env: Record<string, string> = {}): Promise<RelayUnderTest> {
    this.relay = await startRelayUnderTest(env);
    return this.relay;
  }

  /** token: what the node sends as X-Relay-Server-Token (none when undefined). */
  startNode(options: { token?: string; relay?: RelayUnderTest } = {}): ComputeNode {
    const relay = options.relay ?? this.#requireRelay();
    const env: Record<string, string> = options.token === undefined ? {} : { TOKEN_PLACE_RELAY_SERVER_TOKEN: options.token };
    const peer = startPeer(`server.py #${++this.#nodes}`, ['server', relay.url], env);
    this.peers.push(peer);
    const fingerprint = async () =>
      (await peer.waitForOutput(/key_fingerprint=([0-9a-f]{12})/, 20_000, 'server.py to log its key fingerprint'))[1];
    const ownKey = async () => {
      const mine = await fingerprint();
      return (await relay.nodeKeys()).find((key) => keyFingerprint(key) === mine);
    };
    return {
      peer,
      fingerprint,
      registered: (ms = 20_000) =>
        eventually(
          async () => {
            if (!peer.running()) throw new Error(`${peer.name} exited before registering:\n${this.transcript()}`);
            return ownKey();
          },
          ms,
          `${peer.name} to appear in /relay/diagnostics:\n${this.transcript()}`,
        ),
      listed: async () => (await ownKey()) !== undefined,
    };
  }

  startClient(options: { relay?: RelayUnderTest } = {}): ChatClient {
    const relay = options.relay ?? this.#requireRelay();
    const peer = startPeer(`client.py #${++this.#clients}`, ['client', String(relay.port)], {}, true);
    this.peers.push(peer);
    return {
      peer,
      ask: async (prompt, ms = 20_000) => {
        const from = peer.output().length;
        peer.child.stdin?.write(`${prompt}\n`);
        const line = await peer
          .waitForOutput(
            /Assistant: (.*)\n|Failed to get response from the server\./,
            ms,
            `an answer to ${JSON.stringify(prompt)}`,
            from,
          )
          .catch((err: Error) => {
            throw new Error(`${err.message}\n${this.transcript()}`);
          });
        if (line[1] === undefined) throw new Error(`client.py got no answer to ${JSON.stringify(prompt)}:\n${this.transcript()}`);
        return { text: line[1], at: performance.now() };
      },
    };
  }

  /** The tail of every process's output, for failure messages. */
  transcript(tail = 4_000): string {
    const parts = [...(this.relay ? [{ name: `relay (${this.relay.kind})`, text: this.relay.output() }] : [])];
    for (const peer of this.peers) parts.push({ name: peer.name, text: peer.output() });
    return parts.map(({ name, text }) => `----- ${name} -----\n${text.slice(-tail)}`).join('\n');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.peers.map((peer) => peer.stop(3_000)));
    await this.relay?.stop();
  }

  #requireRelay(): RelayUnderTest {
    if (!this.relay) throw new Error('start the relay under test first');
    return this.relay;
  }
}

/** server.py's fingerprint of a public key, to tell which listed node is which process. */
export function keyFingerprint(publicKey: string): string {
  return createHash('sha256').update(publicKey, 'utf8').digest('hex').slice(0, 12);
}

/**
 * A fresh PeerBench for every test of the file, stopped after it; a failed test also prints what every process wrote.
 * Peer tests start processes that take seconds, so the file's tests get a longer timeout than the default.
 */
export function usePeerBench(): () => PeerBench {
  let bench = new PeerBench();
  beforeEach(() => {
    bench = new PeerBench();
  });
  afterEach(async (context) => {
    if (context.task.result?.state === 'fail' && !context.task.fails)
      console.error(`what the processes wrote:\n${bench.transcript()}`);
    await bench.stopAll();
  });
  return () => bench;
}
