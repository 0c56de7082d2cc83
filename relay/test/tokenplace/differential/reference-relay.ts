import { eventually } from '../../helpers/async.ts';
import { startPeer } from '../../helpers/peer-process.ts';
import { freePort } from '../../helpers/ports.ts';

export interface ReferenceRelay {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** token.place's relay.py via `peer.sh relay PORT`, resolved once it answers HTTP. */
export async function startReferenceRelay(env: Record<string, string>): Promise<ReferenceRelay> {
  const port = await freePort();
  const peer = startPeer('relay.py', ['relay', String(port)], env);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await peer.stop(3_000);
  };
  try {
    await eventually(
      async () => {
        if (!peer.running()) throw new Error(`relay.py exited:\n${peer.output()}`);
        return fetch(`${url}/livez`).then(
          () => true,
          () => undefined,
        );
      },
      30_000,
      'relay.py to answer HTTP',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, output: peer.output, stop };
}
