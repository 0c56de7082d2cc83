/** The cluster's processes in start order: what each one runs, and what tells that it is up. */
import { join } from 'node:path';
import type { Binaries } from './binaries.ts';
import { type Layout, paths } from './layout.ts';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  /** The program the PID ends up running, when `command` execs another one (`ip netns exec ...`). */
  program?: string;
  /** An HTTP(S) URL that answers 200 once the process is ready (no authentication), or a socket file. */
  ready?: { url: string } | { socket: string };
}

export function processSpecs(l: Layout, bin: Binaries): ProcessSpec[] {
  const p = paths(l);
  const pki = (name: string) => join(p.pki, name);
  const kubeconfig = (name: string) => join(p.config, `${name}.kubeconfig`);
  const etcdUrl = `http://127.0.0.1:${l.etcdClientPort}`;
  return [
    {
      name: 'etcd',
      command: 'etcd',
      args: [
        '--name=tokenplace-e2e',
        `--data-dir=${p.etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${l.etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${l.etcdPeerPort}`,
        `--initial-cluster=tokenplace-e2e=http://127.0.0.1:${l.etcdPeerPort}`,
      ],
      ready: { url: `${etcdUrl}/health` },
    },
    {
      name: 'kube-apiserver',
      command: bin['kube-apiserver'],
      args: [
        `--etcd-servers=${etcdUrl}`,
        // Advertised on the runner's own bridge: the endpoint reconciler refuses a loopback address.
        `--advertise-address=${l.nodeIp}`,
        `--bind-address=${l.nodeIp}`,
        `--secure-port=${l.apiPort}`,
        `--service-cluster-ip-range=${l.serviceCidr}`,
        `--client-ca-file=${pki('ca.crt')}`,
        `--tls-cert-file=${pki('apiserver.crt')}`,
        `--tls-private-key-file=${pki('apiserver.key')}`,
        `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
        `--kubelet-certificate-authority=${pki('ca.crt')}`,
        '--kubelet-preferred-address-types=InternalIP',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki('sa.pub')}`,
        `--service-account-signing-key-file=${pki('sa.key')}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--profiling=false',
      ],
      ready: { url: `https://${l.nodeIp}:${l.apiPort}/readyz` },
    },
    {
      name: 'kube-controller-manager',
      command: bin['kube-controller-manager'],
      args: [
        `--kubeconfig=${kubeconfig('kube-controller-manager')}`,
        `--authentication-kubeconfig=${kubeconfig('kube-controller-manager')}`,
        `--authorization-kubeconfig=${kubeconfig('kube-controller-manager')}`,
        '--bind-address=127.0.0.1',
        '--leader-elect=false',
        '--allocate-node-cidrs=true',
        `--cluster-cidr=${l.podCidr}`,
        '--node-cidr-mask-size=24',
        `--service-cluster-ip-range=${l.serviceCidr}`,
        `--root-ca-file=${pki('ca.crt')}`,
        `--service-account-private-key-file=${pki('sa.key')}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${pki('ca.crt')}`,
        `--cluster-signing-key-file=${pki('ca.key')}`,
        '--profiling=false',
      ],
    },
    {
      name: 'kube-scheduler',
      command: bin['kube-scheduler'],
      args: [
        `--kubeconfig=${kubeconfig('kube-scheduler')}`,
        `--authentication-kubeconfig=${kubeconfig('kube-scheduler')}`,
        `--authorization-kubeconfig=${kubeconfig('kube-scheduler')}`,
        '--bind-address=127.0.0.1',
        '--leader-elect=false',
        '--profiling=false',
      ],
    },
    {
      name: 'containerd',
      command: 'containerd',
      args: [`--config=${join(p.config, 'containerd.toml')}`],
      ready: { socket: p.containerdSocket },
    },
    {
      name: 'kubelet',
      command: bin.kubelet,
      args: [
        `--config=${join(p.config, 'kubelet.json')}`,
        `--kubeconfig=${kubeconfig('kubelet')}`,
        `--root-dir=${p.kubeletRoot}`,
        `--hostname-override=${l.nodeName}`,
        `--node-ip=${l.nodeIp}`,
      ],
      ready: { url: 'http://127.0.0.1:10248/healthz' },
    },
    {
      name: 'kube-proxy',
      command: bin['kube-proxy'],
      args: [`--config=${join(p.config, 'kube-proxy.json')}`],
      ready: { url: 'http://127.0.0.1:10256/healthz' },
    },
    {
      // kube-router's NetworkPolicy controller only (the one k3s embeds); it runs on the host, not in a pod.
      name: 'kube-router',
      command: bin['kube-router'],
      args: [
        `--kubeconfig=${kubeconfig('kube-router')}`,
        '--run-firewall=true',
        '--run-router=false',
        '--run-service-proxy=false',
        '--run-loadbalancer=false',
        `--hostname-override=${l.nodeName}`,
        '--metrics-port=0',
        '--health-port=20244',
      ],
      ready: { url: 'http://127.0.0.1:20244/healthz' },
    },
  ];
}
