/** The configuration files of the local cluster's components, rendered from the layout (pure functions). */
import { join } from 'node:path';
import { type Layout, paths } from './layout.ts';

export const IMAGE_PREFIX = 'tokenplace-e2e.local';
export const PAUSE_IMAGE = `${IMAGE_PREFIX}/pause:v1`;

export function apiServerUrl(l: Layout): string {
  return `https://${l.nodeIp}:${l.apiPort}`;
}

/** A kubeconfig that authenticates with a client certificate from pki/. */
export function kubeconfig(l: Layout, identity: string): string {
  const pki = paths(l).pki;
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'tokenplace-e2e', cluster: { server: apiServerUrl(l), 'certificate-authority': join(pki, 'ca.crt') } }],
      users: [
        {
          name: identity,
          user: { 'client-certificate': join(pki, `${identity}.crt`), 'client-key': join(pki, `${identity}.key`) },
        },
      ],
      contexts: [{ name: 'tokenplace-e2e', context: { cluster: 'tokenplace-e2e', user: identity } }],
      'current-context': 'tokenplace-e2e',
    },
    null,
    2,
  );
}

/**
 * containerd 1.6 on its own socket and directories, beside any Docker engine. `restrict_oom_score_adj`:
 * root here lacks CAP_SYS_RESOURCE, so runc cannot lower a container's OOM score below its own.
 */
export function containerdConfig(l: Layout): string {
  const p = paths(l);
  return `version = 2
root = ${JSON.stringify(p.containerdRoot)}
state = ${JSON.stringify(p.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${JSON.stringify(p.containerdSocket)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(PAUSE_IMAGE)}
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${JSON.stringify(p.cniConfDir)}
`;
}

/** The pod network: a bridge with host-local addresses out of the node's pod CIDR, masqueraded when leaving it. */
export function cniConfig(l: Layout): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'tokenplace-e2e',
      plugins: [
        {
          type: 'bridge',
          bridge: l.cniBridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: l.nodePodCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: paths(l).cniIpamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/**
 * The kubelet: cgroup v1 with the cgroupfs driver (this machine has no systemd), authenticated and
 * authorized through the API server, eviction and image GC thresholds that a nearly full disk does
 * not trip (the images here cannot be pulled again).
 */
export function kubeletConfig(l: Layout): string {
  const p = paths(l);
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
      address: l.nodeIp,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: join(p.pki, 'ca.crt') },
      },
      authorization: { mode: 'Webhook' },
      tlsCertFile: join(p.pki, 'kubelet-serving.crt'),
      tlsPrivateKeyFile: join(p.pki, 'kubelet-serving.key'),
      clusterDomain: 'cluster.local',
      clusterDNS: [l.dnsServiceIp],
      resolvConf: join(p.config, 'resolv.conf'),
      podLogsDir: p.podLogs,
      failSwapOn: false,
      evictionHard: {
        'memory.available': '100Mi',
        'nodefs.available': '1%',
        'imagefs.available': '1%',
        'nodefs.inodesFree': '1%',
      },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      // A reserved quota for nothing else: the checks start a few dozen short pods.
      maxPods: 110,
    },
    null,
    2,
  );
}

/** Pods whose DNS policy is Default (CoreDNS) get this; no name server leaves the machine. */
export function resolvConf(l: Layout): string {
  return `nameserver ${l.nodeIp}\noptions ndots:1\n`;
}

export function kubeProxyConfig(l: Layout): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig: join(paths(l).config, 'kube-proxy.kubeconfig') },
      mode: 'iptables',
      clusterCIDR: l.podCidr,
      hostnameOverride: l.nodeName,
      bindAddress: l.nodeIp,
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      // NodePorts answer on the runner's LAN address only, never on the machine's own interfaces.
      nodePortAddresses: [`${l.nodeIp}/32`],
      // 0: leave the machine's conntrack table size alone (setting it needs privileges a container lacks).
      conntrack: { maxPerCore: 0, min: 0 },
    },
    null,
    2,
  );
}
