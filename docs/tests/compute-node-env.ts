/**
 * Variables of token.place's compute node (`server.py`) that the documents tell operators to set on
 * the GPU box. The relay does not read them, so they are not among its settings; each must be read by
 * token.place's own code, checked against the pinned copy beside the repository when it is there.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-facts.ts';

/** Name -> the token.place file (relative to its checkout) that reads it. */
export const COMPUTE_NODE_ENV: Record<string, string> = {
  // Pins server.py to the operator's relay; otherwise it fails over to token.place's public relay.
  TOKEN_PLACE_RELAY_UPSTREAMS: 'config.py',
};

/** The pinned token.place checkout, or undefined when it is not beside the repository. */
export function tokenplaceCheckout(): string | undefined {
  const peers = process.env.TOKENPLACE_PEERS_DIR ?? join(REPO_ROOT, '..', 'shared', 'tokenplace');
  const checkout = join(peers, 'token.place');
  return existsSync(checkout) ? checkout : undefined;
}
