import { describe, expect, it } from 'vitest';
import { findHelm } from './helm-binary.ts';
import { helmNotes, REQUIRED_VALUES } from './render.ts';

// NOTES.txt is rendered only by install/upgrade; Helm 4's client-side dry run needs no cluster.
describe('NOTES.txt', () => {
  it('tells the operator what to check next, with the release names and the public URL', async () => {
    const notes = await helmNotes(await findHelm(4), {
      values: [
        REQUIRED_VALUES,
        {
          ingress: {
            enabled: true,
            clusterIssuer: 'letsencrypt-production',
            hosts: [{ host: 'relay.example.org' }],
            tls: [{ secretName: 'relay-tls', hosts: ['relay.example.org'] }],
          },
        },
      ],
    });
    expect(notes).toContain('kubectl -n tokenplace rollout status deployment/relay-tokenplace-relay');
    expect(notes).toContain('helm test relay -n tokenplace');
    expect(notes).toContain('https://relay.example.org/');
    expect(notes).toContain('ClusterIssuer letsencrypt-production');
    expect(notes).toContain('ExternalName Service gpu-server -> gpu.home.arpa:8000');
  });

  it('explains why the NetworkPolicy needs the GPU host CIDRs', async () => {
    const notes = await helmNotes(await findHelm(4), { values: [REQUIRED_VALUES] });
    expect(notes).toContain('Kubernetes NetworkPolicy cannot match DNS names such as gpu.home.arpa');
    expect(notes).toContain('GPU host at 192.168.1.50/32');
    expect(notes).toContain('networkPolicy.gpuServer.cidrs');
  });

  it('shows how to create the missing token Secret, and the LoadBalancer address', async () => {
    const notes = await helmNotes(await findHelm(4), {
      release: 'relay-family',
      exampleFiles: ['relay-family.values.yaml'],
    });
    expect(notes).toContain('kubectl -n tokenplace create secret generic relay-family-secrets');
    expect(notes).toContain('kubectl -n tokenplace get service relay-family-tokenplace-relay -o wide');
    expect(notes).toContain('allow its clients with networkPolicy.extraIngress');
  });
});
