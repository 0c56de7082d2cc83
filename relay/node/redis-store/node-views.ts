/** The `nodes` script's reply (one table of hash fields per node) as the store interface's NodeView. */
import type { Capabilities } from '../../src/tokenplace/capabilities.ts';
import type { NodeView } from '../../src/tokenplace/store.ts';

export function nodeViews(nodes: unknown): NodeView[] {
  const list: Record<string, string | number>[] = Array.isArray(nodes) ? nodes : [];
  return list.map((fields) => ({
    publicKey: String(fields.pk),
    capabilities: JSON.parse(String(fields.caps)) as Capabilities,
    credentialDigest: String(fields.digest),
    order: Number(fields.order),
    registeredAt: Number(fields.registeredAt),
    lastSeenAt: Number(fields.lastSeen),
    leaseSeconds: Number(fields.lease),
    pollingUntil: fields.polling === '' || fields.polling === undefined ? undefined : Number(fields.polling),
    queueDepth: Number(fields.queueDepth),
    inFlight: Number(fields.inFlight),
  }));
}
