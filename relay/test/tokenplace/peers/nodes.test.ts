/** Several real server.py nodes, and a node that goes away, through the relay under test. */
import { describe, expect, it } from 'vitest';
import { within } from '../../helpers/async.ts';
import { type ComputeNode, usePeerBench } from '../../helpers/tokenplace-peers.ts';

const bench = usePeerBench();

/** How many chat jobs server.py logged taking from the relay (client.py's request ids start with "chat-client-"). */
function jobsServed(node: ComputeNode): number {
  return node.peer.output().match(/api_v1_payload=True request_id=chat-client-/g)?.length ?? 0;
}

describe('compute nodes coming and going', { timeout: 40_000 }, () => {
  it('two nodes registered at once: both are listed, chats succeed, and both serve some', async () => {
    const relay = await bench().startRelay();
    const nodes = [bench().startNode(), bench().startNode()];
    const client = bench().startClient();
    const keys = await Promise.all(nodes.map((node) => node.registered()));

    expect(new Set(keys).size).toBe(2);
    expect((await relay.nodeKeys()).sort()).toEqual([...keys].sort());

    const answers: string[] = [];
    // The relay spreads jobs over its nodes; a few chats are enough for each node to get one.
    for (let chat = 1; chat <= 6 && !nodes.every((node) => jobsServed(node) > 0); chat++) {
      answers.push((await client.ask(`chat number ${chat}`)).text);
    }

    for (const answer of answers) expect(answer).toMatch(/^Mock Response: /);
    expect(
      nodes.map(jobsServed).every((served) => served > 0),
      `jobs served per node: ${nodes.map(jobsServed)}`,
    ).toBe(true);
  });

  it('a node that restarts: SIGINT unregisters it, a new node registers, and a chat then succeeds', async () => {
    await bench().startRelay();
    const first = bench().startNode();
    const client = bench().startClient();
    await first.registered();
    expect((await client.ask('before the restart')).text).toMatch(/^Mock Response: /);

    // Ctrl-C: server.py stops polling and unregisters on its way out.
    first.peer.signal('SIGINT');
    await within(first.peer.exited, 15_000, `server.py to exit on SIGINT:\n${first.peer.output()}`);
    expect(await first.listed()).toBe(false);

    const second = bench().startNode();
    await second.registered();
    expect(await second.fingerprint()).not.toBe(await first.fingerprint());
    // The same client.py session: it asks the relay for a node again with every prompt.
    expect((await client.ask('after the restart')).text).toMatch(/^Mock Response: /);
    expect(jobsServed(second)).toBe(1);
  });
});
