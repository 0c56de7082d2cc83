import { describe, expect, it } from 'vitest';
import { findHelm } from './helm-binary.ts';
import { HTTP_UPSTREAM_VALUES, helmNotes } from './render.ts';

const PUBLIC_HOST = {
  ingress: {
    enabled: true,
    clusterIssuer: 'letsencrypt-production',
    hosts: [{ host: 'relay.example.org' }],
    tls: [{ secretName: 'relay-tls', hosts: ['relay.example.org'] }],
  },
};

// NOTES.txt is rendered only by install/upgrade; Helm 4's client-side dry run needs no cluster.
describe('NOTES.txt', () => {
  it('tells the operator what to check next, with the release names and the public URL', async () => {
    const notes = await helmNotes(await findHelm(4), { values: [PUBLIC_HOST] });
    expect(notes).toContain('kubectl -n tokenplace rollout status deployment/relay-tokenplace-relay');
    expect(notes).toContain('helm test relay -n tokenplace');
    expect(notes).toContain('https://relay.example.org/');
    expect(notes).toContain('ClusterIssuer letsencrypt-production');
  });

  it('by default: what to run on the GPU box, how to read the token, and that no HTTP upstream is set up', async () => {
    const notes = await helmNotes(await findHelm(4), { values: [PUBLIC_HOST] });
    expect(notes).toContain(
      "kubectl -n tokenplace get secret tokenplace-relay-secrets -o jsonpath='{.data.TOKEN_PLACE_RELAY_SERVER_TOKEN}' | base64 -d",
    );
    expect(notes).toContain('$env:TOKEN_PLACE_RELAY_SERVER_TOKEN = "<the token>"');
    expect(notes).toContain('$env:TOKEN_PLACE_RELAY_UPSTREAMS = "https://relay.example.org"');
    expect(notes).toContain('python server.py --relay_url https://relay.example.org');
    expect(notes).toContain('https://relay.example.org/relay/diagnostics');
    expect(notes).toContain('The GPU box needs outbound HTTPS only');
    expect(notes).toContain('no inbound firewall rule, no port forward');
    expect(notes).toContain('kubectl -n tokenplace create secret generic tokenplace-relay-secrets');
    expect(notes).toContain('HTTP GPU server: off (env.upstream.enabled=false)');
    expect(notes).toContain('It opens no connections');
    expect(notes).not.toContain('ExternalName');
    expect(notes).not.toContain('/v1/models');
  });

  it('without an Ingress, names the placeholder for the public host instead of inventing one', async () => {
    const notes = await helmNotes(await findHelm(4), {});
    expect(notes).toContain("python server.py --relay_url https://<the relay's public host>");
  });

  it('with the HTTP upstream on: the ExternalName, what the GPU server needs, and why the policy needs its CIDRs', async () => {
    const notes = await helmNotes(await findHelm(4), { values: [HTTP_UPSTREAM_VALUES] });
    expect(notes).toContain('ExternalName Service gpu-server -> gpu.home.arpa:8000');
    expect(notes).toContain('listen on the LAN address (not only 127.0.0.1) and let the cluster nodes in');
    expect(notes).toContain('Kubernetes NetworkPolicy cannot match DNS names such as gpu.home.arpa');
    expect(notes).toContain('GPU host at 192.168.1.50/32');
    expect(notes).toContain('networkPolicy.gpuServer.cidrs');
    expect(notes).toContain('python server.py --relay_url');
  });

  it('warns that compute nodes need one replica without a shared state store, only when more can exist', async () => {
    const helm = await findHelm(4);
    const two = await helmNotes(helm, { values: [{ replicaCount: 2, state: { allowPerPodState: true } }] });
    expect(two).toContain('Up to 2 replicas: the relay keeps compute nodes and their requests in each pod');
    const scaled = await helmNotes(helm, {
      values: [{ autoscaling: { enabled: true, maxReplicas: 4 }, state: { url: 'redis://valkey:6379' } }],
    });
    expect(scaled).toContain('Up to 4 replicas share compute nodes, queues and in-flight work through Valkey/Redis');
    expect(await helmNotes(helm, {})).not.toContain('replicas:');
  });

  it('shows how to create an optional missing token Secret, and the LoadBalancer address', async () => {
    const notes = await helmNotes(await findHelm(4), {
      release: 'relay-family',
      exampleFiles: ['relay-family.values.yaml'],
      values: [{ secret: { optional: true } }],
    });
    expect(notes).toContain('kubectl -n tokenplace create secret generic relay-family-secrets');
    expect(notes).toContain('kubectl -n tokenplace rollout restart deployment/relay-family-tokenplace-relay');
    expect(notes).toContain('Without it compute nodes get 403');
    expect(notes).toContain('kubectl -n tokenplace get service relay-family-tokenplace-relay -o wide');
    expect(notes).toContain('allow its clients with networkPolicy.extraIngress');
  });
});
