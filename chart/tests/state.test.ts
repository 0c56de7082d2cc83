/** The shared state store in the chart: its variables, the egress it opens, and the scale-out it allows. */
import { describe, expect, it } from 'vitest';
import { findHelm } from './helm-binary.ts';
import { type K8sObject, renderObjects } from './render.ts';

const SHARED = { state: { url: 'redis://valkey-primary.valkey.svc:6379', passwordSecret: { name: 'valkey' } }, replicaCount: 3 };

function relayEnv(objects: K8sObject[]): { name: string; value?: string; valueFrom?: unknown }[] {
  const deployment = objects.find((object) => object.kind === 'Deployment');
  return deployment?.spec.template.spec.containers[0].env ?? [];
}

function egress(objects: K8sObject[]): unknown[] {
  return objects.find((object) => object.kind === 'NetworkPolicy')?.spec.egress ?? [];
}

describe('shared state store values', () => {
  it('by default: no state variables and no egress at all', async () => {
    const objects = await renderObjects(await findHelm(4), {});
    expect(relayEnv(objects).filter((entry) => entry.name.startsWith('TOKENPLACE_RELAY_STATE_'))).toEqual([]);
    expect(egress(objects)).toEqual([]);
  });

  it('state.url and a password Secret: three replicas, the URL and password in the environment, egress to DNS and Valkey only', async () => {
    const objects = await renderObjects(await findHelm(4), { values: [SHARED] });
    expect(objects.find((object) => object.kind === 'Deployment')?.spec.replicas).toBe(3);
    const env = relayEnv(objects);
    expect(env).toContainEqual({ name: 'TOKENPLACE_RELAY_STATE_URL', value: 'redis://valkey-primary.valkey.svc:6379' });
    expect(env).toContainEqual({
      name: 'TOKENPLACE_RELAY_STATE_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'valkey', key: 'valkey-password' } },
    });
    expect(env).toContainEqual({ name: 'TOKENPLACE_RELAY_STATE_SLOT_LEASE_SECONDS', value: '10' });
    const rules = egress(objects) as { ports: { port: number }[] }[];
    expect(rules.map((rule) => rule.ports.map((port) => port.port))).toEqual([[53, 53], [6379]]);
    expect(rules[1]).toMatchObject({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'valkey' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'valkey' } },
        },
      ],
    });
  });

  it('state.url may name one node of a Redis/Valkey Cluster (redis+cluster://)', async () => {
    const url = 'redis+cluster://valkey-cluster.valkey.svc:6379';
    const objects = await renderObjects(await findHelm(4), { values: [{ ...SHARED, state: { ...SHARED.state, url } }] });
    expect(relayEnv(objects)).toContainEqual({ name: 'TOKENPLACE_RELAY_STATE_URL', value: url });
  });

  it('state.existingSecret: the whole URL comes from the Secret, and an HPA is allowed', async () => {
    const objects = await renderObjects(await findHelm(3), {
      values: [{ state: { existingSecret: 'relay-state' }, autoscaling: { enabled: true } }],
    });
    expect(relayEnv(objects)).toContainEqual({
      name: 'TOKENPLACE_RELAY_STATE_URL',
      valueFrom: { secretKeyRef: { name: 'relay-state', key: 'url' } },
    });
    expect(objects.some((object) => object.kind === 'HorizontalPodAutoscaler')).toBe(true);
  });
});
