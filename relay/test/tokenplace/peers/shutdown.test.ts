/**
 * SIGTERM of our relay while token.place's server.py long-polls it and another node holds a dispatched request.
 * relay.py has no drain, so this runs against ours only. The second node is driven from TypeScript so the test decides
 * when it takes its request and when it answers; the relay never decrypts, so its envelopes carry random bytes.
 */
import { describe, expect, it } from 'vitest';
import { within } from '../../helpers/async.ts';
import { fakeRequest, fakeResponse, newPublicKey } from '../../helpers/fake-envelope.ts';
import type { LogLine } from '../../helpers/relay-process.ts';
import { relayKind } from '../../helpers/relay-under-test.ts';
import { usePeerBench } from '../../helpers/tokenplace-peers.ts';

const bench = usePeerBench();
const oursOnly = relayKind() === 'ours' ? it : it.skip;

const TOKEN = 'drain-test-token';
const NODE_HEADERS = { 'x-relay-server-token': TOKEN };
const POLL = '/api/v1/relay/servers/poll';
const POLL_WAIT_MS = 10_000;

/** A poll our relay logged as answered: when it started and ended, from its log line. */
function pollsAnswered(lines: LogLine[]): { start: number; end: number; status: unknown }[] {
  return lines
    .filter((line) => line.msg === 'request' && line.path === POLL && typeof line.durationMs === 'number')
    .map((line) => {
      const end = Date.parse(String(line.time));
      return { start: end - (line.durationMs as number), end, status: line.status };
    });
}

describe('SIGTERM of our relay with token.place nodes attached', { timeout: 40_000 }, () => {
  oursOnly(
    'pending long polls are answered at once, new requests get 503 during the drain, a dispatched request completes',
    async () => {
      const relay = await bench().startRelay({
        TOKEN_PLACE_RELAY_SERVER_TOKEN: TOKEN,
        TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS: String(POLL_WAIT_MS / 1000),
        TOKENPLACE_RELAY_DRAIN_SECONDS: '2',
        TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS: '8',
      });
      const ours = relay.ours;
      if (!ours) throw new Error('expected our relay');
      const serverPy = bench().startNode({ token: TOKEN });
      const serverPyKey = await serverPy.registered();

      // The scripted node takes one request and keeps it unanswered.
      const nodeKey = newPublicKey();
      const registered = await relay.postJson('/api/v1/relay/servers/register', { server_public_key: nodeKey }, NODE_HEADERS);
      expect(registered.status, JSON.stringify(registered.body)).toBe(200);
      const inFlight = fakeRequest(nodeKey);
      expect((await relay.postJson('/api/v1/relay/requests', inFlight.body)).status).toBe(200);
      const work = await relay.postJson(POLL, { server_public_key: nodeKey }, NODE_HEADERS);
      expect(work.status).toBe(200);
      expect(work.body).toMatchObject({ request_id: inFlight.requestId });

      // server.py long-polls all the time (10 s each); give it a moment to be held.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const sigterm = Date.now();
      ours.child.kill('SIGTERM');

      const refused = await relay.postJson('/api/v1/relay/requests', fakeRequest(serverPyKey).body);
      expect(refused.status).toBe(503);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);

      const response = fakeResponse(inFlight);
      const delivered = await relay.postJson('/api/v1/relay/responses', response, NODE_HEADERS);
      expect(delivered.status, JSON.stringify(delivered.body)).toBe(200);
      const retrieved = await relay.postJson('/api/v1/relay/responses/retrieve', {
        client_public_key: inFlight.clientPublicKey,
        request_id: inFlight.requestId,
      });
      expect(retrieved.status, JSON.stringify(retrieved.body)).toBe(200);
      expect(retrieved.body).toMatchObject({ chat_history: response.chat_history, iv: response.iv });
      expect(Date.now() - sigterm, 'all of this within the 2 s drain').toBeLessThan(2_000);

      const exit = await within(ours.exited, 10_000, 'the relay to exit after its drain');
      expect(exit).toEqual({ code: 0, signal: null });

      // The scripted node's only poll ended before SIGTERM, so the polls around SIGTERM are server.py's: the one held
      // at SIGTERM was answered at once, long before its 10 s wait was up, and server.py polled again.
      const polls = pollsAnswered(ours.logs());
      const heldAtSigterm = polls.filter((poll) => poll.start < sigterm && poll.end >= sigterm);
      expect(heldAtSigterm, `server.py's polls: ${JSON.stringify(polls)}`).toHaveLength(1);
      expect(heldAtSigterm[0].end - sigterm).toBeLessThan(1_000);
      expect(heldAtSigterm[0].end - heldAtSigterm[0].start).toBeLessThan(POLL_WAIT_MS - 500);
      expect(polls.some((poll) => poll.start >= sigterm)).toBe(true);
    },
  );
});
