/**
 * token.place's real programs through the relay under test (ours by default, relay.py with TOKENPLACE_E2E_RELAY=reference):
 * server.py (mock LLM) registers and long-polls, client.py encrypts a prompt and polls for the answer.
 */
import { describe, expect, it } from 'vitest';
import { usePeerBench } from '../../helpers/tokenplace-peers.ts';

const REGISTER = '/api/v1/relay/servers/register';
const bench = usePeerBench();

describe('a chat through the relay between real token.place peers', { timeout: 40_000 }, () => {
  it('round trip: client.py prints the mock answer server.py computed', async () => {
    await bench().startRelay();
    const node = bench().startNode();
    const client = bench().startClient();
    await node.registered();

    const answer = await client.ask('What is the capital of France?');

    expect(answer.text).toMatch(/^Mock Response: /);
  });

  it('server token on: the node that has the token registers and serves the chat', async () => {
    const relay = await bench().startRelay({ TOKEN_PLACE_RELAY_SERVER_TOKEN: 'peer-test-token' });
    const node = bench().startNode({ token: 'peer-test-token' });
    const client = bench().startClient();
    await node.registered();

    const answer = await client.ask('hello with a token');

    expect(answer.text).toMatch(/^Mock Response: /);
    await relay.waitForAnswer(REGISTER, 200);
    expect(relay.answered(REGISTER, 401)).toBe(false);
  });

  it('server token off: with no token anywhere the node registers and serves the chat', async () => {
    const relay = await bench().startRelay();
    const node = bench().startNode();
    const client = bench().startClient();
    await node.registered();

    const answer = await client.ask('hello without a token');

    expect(answer.text).toMatch(/^Mock Response: /);
    await relay.waitForAnswer(REGISTER, 200);
  });

  it('wrong server token: the relay answers 401 and the node never registers', async () => {
    const relay = await bench().startRelay({ TOKEN_PLACE_RELAY_SERVER_TOKEN: 'the-right-token' });
    const node = bench().startNode({ token: 'a-wrong-token' });

    // server.py logs every refused relay call with its path and status.
    await node.peer.waitForOutput(/path=\/api\/v1\/relay\/servers\/register status=401/, 20_000, 'server.py to be refused');

    await relay.waitForAnswer(REGISTER, 401);
    expect(relay.answered(REGISTER, 200)).toBe(false);
    expect(node.peer.running()).toBe(true);
    const diagnostics = await relay.diagnostics();
    expect(diagnostics.api_v1_registered_compute_nodes).toEqual([]);
    expect(diagnostics.total_api_v1_registered_compute_nodes).toBe(0);
  });
});
