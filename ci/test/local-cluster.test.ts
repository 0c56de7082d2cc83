/**
 * The local cluster's pure parts: the layout stays on the runner's own network, the configs carry the
 * settings this machine needs, and teardown finds exactly the runner's iptables rules. The cluster
 * itself runs in `npm run e2e:cluster` (.ci/run), not here.
 */
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { COREFILE, corednsManifests } from '../local-cluster/addons.ts';
import { COMPONENTS } from '../local-cluster/binaries.ts';
import { processSpecs } from '../local-cluster/components.ts';
import { cniConfig, containerdConfig, kubeconfig, kubeletConfig, kubeProxyConfig } from '../local-cluster/configs.ts';
import { defaultLayout, paths } from '../local-cluster/layout.ts';
import { forwardRules, RULE_COMMENT, splitRule } from '../local-cluster/network.ts';
import { apiServerNames, clientIdentities } from '../local-cluster/pki.ts';
import { localScenario } from '../local-cluster/scenario-runner.ts';
import { tokenplaceValues } from '../local-cluster/tokenplace-check.ts';

const layout = defaultLayout({ E2E_CLUSTER_CACHE: '/cache/here' });

function ipv4(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inside(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return (ipv4(address) & mask) >>> 0 === (ipv4(base) & mask) >>> 0;
}

describe('local cluster layout', () => {
  it('keeps the node, the API server and the outside host on the runner LAN, apart from pods and services', () => {
    expect(inside(layout.nodeIp, layout.lanCidr)).toBe(true);
    expect(inside(layout.gpuHost.ip, layout.lanCidr)).toBe(true);
    expect(inside(layout.nodePodCidr.split('/')[0], layout.podCidr)).toBe(true);
    expect(inside(layout.apiServiceIp, layout.serviceCidr)).toBe(true);
    expect(inside(layout.dnsServiceIp, layout.serviceCidr)).toBe(true);
    expect(inside(layout.nodeIp, layout.podCidr) || inside(layout.nodeIp, layout.serviceCidr)).toBe(false);
    expect(layout.nodeIp.startsWith('127.')).toBe(false);
    expect(layout.cacheDir).toBe('/cache/here');
  });

  it('advertises and binds every component on the LAN address or loopback, never on all interfaces', () => {
    const bin = Object.fromEntries(COMPONENTS.flatMap((c) => c.binaries.map((b) => [b, `/bin/${b}`])));
    const specs = processSpecs(layout, bin);
    expect(specs.map((s) => s.name)).toEqual([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'containerd',
      'kubelet',
      'kube-proxy',
      'kube-router',
    ]);
    const apiserver = specs.find((s) => s.name === 'kube-apiserver');
    expect(apiserver?.args).toContain(`--advertise-address=${layout.nodeIp}`);
    expect(apiserver?.args).toContain(`--bind-address=${layout.nodeIp}`);
    for (const spec of specs) {
      for (const arg of spec.args) expect(arg, `${spec.name} ${arg}`).not.toMatch(/0\.0\.0\.0|:::/);
    }
    expect(specs.find((s) => s.name === 'kube-router')?.args).toEqual(
      expect.arrayContaining(['--run-firewall=true', '--run-router=false', '--run-service-proxy=false']),
    );
  });
});

describe('local cluster configs', () => {
  it('kubelet: cgroup v1 with cgroupfs, authenticated and authorized, on the LAN address', () => {
    const config = JSON.parse(kubeletConfig(layout));
    expect(config).toMatchObject({
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      address: layout.nodeIp,
      readOnlyPort: 0,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true } },
      authorization: { mode: 'Webhook' },
      clusterDNS: [layout.dnsServiceIp],
    });
    expect(config.containerRuntimeEndpoint).toBe(`unix://${paths(layout).containerdSocket}`);
  });

  it('containerd: its own socket and directories, restricted OOM score, the local pause image', () => {
    const toml = containerdConfig(layout);
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain(`address = "${paths(layout).containerdSocket}"`);
    expect(toml).toContain('sandbox_image = "tokenplace-e2e.local/pause:v1"');
    expect(toml).not.toContain('/run/containerd/containerd.sock');
  });

  it('the pod network bridge and kube-proxy stay inside the layout', () => {
    const cni = JSON.parse(cniConfig(layout));
    expect(cni.plugins[0]).toMatchObject({ type: 'bridge', bridge: layout.cniBridge, ipMasq: true });
    expect(cni.plugins[0].ipam.ranges).toEqual([[{ subnet: layout.nodePodCidr }]]);
    const proxy = JSON.parse(kubeProxyConfig(layout));
    expect(proxy).toMatchObject({ mode: 'iptables', clusterCIDR: layout.podCidr, nodePortAddresses: [`${layout.nodeIp}/32`] });
  });

  it('one kubeconfig per identity, verified against the cluster CA', () => {
    for (const id of clientIdentities(layout)) {
      const config = JSON.parse(kubeconfig(layout, id.name));
      expect(config.clusters[0].cluster.server).toBe(`https://${layout.nodeIp}:${layout.apiPort}`);
      expect(config.clusters[0].cluster['certificate-authority']).toMatch(/\/pki\/ca\.crt$/);
      expect(config.users[0].user['client-certificate']).toMatch(new RegExp(`/pki/${id.name}\\.crt$`));
    }
    expect(clientIdentities(layout).find((id) => id.name === 'kubelet')).toMatchObject({
      commonName: `system:node:${layout.nodeName}`,
      organization: 'system:nodes',
    });
    expect(apiServerNames(layout)).toEqual(expect.arrayContaining([`IP:${layout.nodeIp}`, `IP:${layout.apiServiceIp}`]));
  });

  it('CoreDNS as k3s deploys it: kube-dns labels, the coredns-custom import, listening on 53 as non-root', () => {
    expect(COREFILE).toContain('import /etc/coredns/custom/*.server');
    expect(COREFILE).not.toContain('forward');
    const manifests = corednsManifests(layout);
    const deployment = manifests.find((m) => m.kind === 'Deployment') as unknown as IDeployment;
    const service = manifests.find((m) => m.kind === 'Service') as unknown as IService;
    expect(service.spec?.clusterIP).toBe(layout.dnsServiceIp);
    expect(service.metadata?.labels).toEqual({ 'k8s-app': 'kube-dns' });
    const pod = deployment.spec?.template.spec;
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    expect(pod?.securityContext?.sysctls).toEqual([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
    expect(pod?.volumes?.[1].configMap).toEqual({ name: 'coredns-custom', optional: true });
  });
});

describe('local cluster network', () => {
  it('appends FORWARD rules for both bridges, each marked for teardown', () => {
    const rules = forwardRules(layout);
    expect(rules).toHaveLength(4);
    for (const rule of rules) {
      expect(rule[0]).toBe('FORWARD');
      expect(rule).toEqual(expect.arrayContaining(['--comment', RULE_COMMENT, '-j', 'ACCEPT']));
    }
  });

  it('reads iptables -S lines back into arguments, quoted comments whole', () => {
    expect(
      splitRule(
        'POSTROUTING -s 10.214.0.5/32 -m comment --comment "name: \\"tokenplace-e2e\\" id: \\"abc\\"" -j CNI-0123456789abcdef',
      ),
    ).toEqual([
      'POSTROUTING',
      '-s',
      '10.214.0.5/32',
      '-m',
      'comment',
      '--comment',
      'name: "tokenplace-e2e" id: "abc"',
      '-j',
      'CNI-0123456789abcdef',
    ]);
  });
});

describe('the local runner scenario', () => {
  const cluster = { kubeconfig: '/k', logs: { 'kube-apiserver': '/l/kube-apiserver.log' } };
  const scenario = localScenario({ layout, repoRoot: '/repo', runId: 'abc123', cluster });

  it('uses only images built here, never pulled, and the outside host the runner placed', () => {
    expect(scenario.relayImage).toEqual({ repository: 'tokenplace-e2e.local/tokenplace-relay', tag: 'e2e', pullPolicy: 'Never' });
    expect(scenario.probeImage).toMatch(/^tokenplace-e2e\.local\//);
    expect(scenario.standinPullPolicy).toBe('Never');
    expect(scenario.outsideGpu?.address).toBe(layout.gpuHost.ip);
    expect(scenario.chartPath).toBe('/repo/chart');
  });

  it('the token.place release admits the LAN and keeps its client addresses', () => {
    const values = Object.fromEntries(tokenplaceValues({ scenario, layout }, 'secret-token'));
    expect(values['service.externalTrafficPolicy']).toBe('Local');
    expect(values['env.upstream.enabled']).toBe(false);
    expect(values['networkPolicy.extraIngress']).toEqual([
      { from: [{ ipBlock: { cidr: layout.lanCidr } }], ports: [{ port: scenario.relayPort, protocol: 'TCP' }] },
    ]);
  });
});
