/**
 * Where the local test cluster lives: its addresses, interfaces, directories and versions. Everything
 * stays on this machine: the node and the API server are advertised on a bridge the runner creates
 * (a private "LAN"), never on the machine's own network address.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const VERSIONS = {
  kubernetes: 'v1.37.2',
  coredns: 'v1.15.0',
  kubeRouter: 'v2.1.0',
  criTools: 'v1.37.0',
} as const;

export interface Layout {
  /** The node's name, as kubelet registers it. */
  nodeName: string;
  /** The runner's own bridge: the node's "LAN", with the node on .1 and the outside GPU host on .2. */
  lanBridge: string;
  lanCidr: string;
  nodeIp: string;
  /** A host outside the cluster (its own network namespace on the LAN bridge), as a Windows PC on a home LAN. */
  gpuHost: { netns: string; ip: string; vethHost: string; vethHostSide: string };
  /** Pod network (one node: one /24 out of it) and its CNI bridge. */
  podCidr: string;
  nodePodCidr: string;
  cniBridge: string;
  serviceCidr: string;
  apiServiceIp: string;
  dnsServiceIp: string;
  apiPort: number;
  etcdClientPort: number;
  etcdPeerPort: number;
  /** Persistent state of one cluster (certificates, etcd, kubelet, containerd), removed at teardown. */
  stateDir: string;
  /** Sockets and runtime state, removed at teardown. */
  runDir: string;
  /** Built binaries and images, kept between runs (keyed by version). */
  cacheDir: string;
}

export function defaultLayout(env: NodeJS.ProcessEnv = process.env): Layout {
  const cacheRoot = env.E2E_CLUSTER_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tokenplace-relay-cluster');
  return {
    nodeName: 'tokenplace-e2e-node',
    lanBridge: 'tpe2e-lan0',
    lanCidr: '10.213.0.0/24',
    nodeIp: '10.213.0.1',
    gpuHost: { netns: 'tpe2e-gpu-host', ip: '10.213.0.2', vethHost: 'tpe2e-gpu0', vethHostSide: 'tpe2e-gpu1' },
    podCidr: '10.214.0.0/16',
    nodePodCidr: '10.214.0.0/24',
    cniBridge: 'tpe2e-cni0',
    serviceCidr: '10.215.0.0/16',
    apiServiceIp: '10.215.0.1',
    dnsServiceIp: '10.215.0.10',
    apiPort: 6443,
    etcdClientPort: 23790,
    etcdPeerPort: 23800,
    stateDir: env.E2E_CLUSTER_STATE || '/var/lib/tokenplace-relay-cluster',
    runDir: '/run/tokenplace-relay-cluster',
    cacheDir: cacheRoot,
  };
}

export const paths = (l: Layout) => ({
  pki: join(l.stateDir, 'pki'),
  config: join(l.stateDir, 'config'),
  logs: join(l.stateDir, 'logs'),
  pids: join(l.stateDir, 'pids'),
  etcdData: join(l.stateDir, 'etcd'),
  kubeletRoot: join(l.stateDir, 'kubelet'),
  podLogs: join(l.stateDir, 'pod-logs'),
  containerdRoot: join(l.stateDir, 'containerd'),
  containerdState: join(l.runDir, 'containerd'),
  containerdSocket: join(l.runDir, 'containerd.sock'),
  cniConfDir: join(l.stateDir, 'cni', 'net.d'),
  cniIpamDir: join(l.stateDir, 'cni', 'ipam'),
  adminKubeconfig: join(l.stateDir, 'config', 'admin.kubeconfig'),
});
