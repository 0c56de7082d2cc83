/**
 * The variant with the GPU host outside the cluster, as in production (a Windows PC on the LAN): the
 * stand-in runs beside the cluster, not in it, the chart's ExternalName names it by a DNS name the
 * cluster resolves through a CoreDNS zone (as a home router's DNS would), and the egress CIDR is its
 * address. Appended after the in-cluster checks when the scenario has `outsideGpu` (k3s only).
 */
import { e2eValues, setJsonArgs, VALUE_KEYS } from '../chart-values.ts';
import {
  CLUSTER_STEPS,
  type ClusterStep,
  judgeGpuServerResolves,
  judgeNetworkPolicyEgress,
  judgeRequestThroughService,
  requestThroughService,
} from './checks.ts';
import { examplesStrictApply } from './examples.ts';
import { fail, isIp, markers, pass, tail } from './judge.ts';
import { ingressNamespaceLabels, ingressPodLabels, type Scenario } from './scenario.ts';
import { IN_POD_PROBE, shExports, shQuote } from './shell.ts';

function outside(s: Scenario): { alias: string; name: string; address?: string } {
  if (!s.outsideGpu) throw new Error('outside-GPU steps need scenario.outsideGpu');
  return s.outsideGpu;
}

/**
 * `host_ip NAME`: $OUTSIDE_ADDRESS when the runner placed the host itself, else the first address the
 * tool box resolves NAME to (getent, else nslookup), or nothing.
 */
const HOST_IP = `host_ip() {
  [ -n "\${OUTSIDE_ADDRESS:-}" ] && { echo "$OUTSIDE_ADDRESS"; return 0; }
  getent hosts "$1" 2>/dev/null | awk '{ print $1; exit }' | grep . ||
    nslookup "$1" 2>/dev/null | awk '/^Name:/ { named = 1 } named && /^Address/ { sub(/^Address( [0-9]+)?: */, ""); print; exit }'
}
`;

const outsideDns: ClusterStep = {
  id: 'outside-gpu-dns',
  title: 'a GPU host outside the cluster: its address, and a DNS name for it that pods resolve',
  kind: 'setup',
  body: (s) => {
    const { alias, name, address = '' } = outside(s);
    return `${shExports({ OUTSIDE_ALIAS: alias, OUTSIDE_NAME: name, OUTSIDE_ADDRESS: address })}
${HOST_IP}outside_ip=$(host_ip "$OUTSIDE_ALIAS")
[ -n "$outside_ip" ] || { echo "cannot resolve $OUTSIDE_ALIAS from the tool box"; exit 1; }
echo "OUTSIDE_IP=$outside_ip"
kubectl -n kube-system create configmap coredns-custom \\
  --from-literal="outside-gpu.server=$(printf '%s:53 {\\n  hosts {\\n    %s %s\\n  }\\n}\\n' "$OUTSIDE_NAME" "$outside_ip" "$OUTSIDE_NAME")" \\
  --dry-run=client -o yaml | kubectl apply -f - || exit 1
# CoreDNS imports /etc/coredns/custom/*.server at start: restart it rather than wait for volume sync and reload.
kubectl -n kube-system rollout restart deploy/coredns || exit 1
kubectl -n kube-system rollout status deploy/coredns --timeout="\${ROLLOUT_TIMEOUT}s" || exit 1
probe_pod "$INGRESS_NS" "e2e-lan-$RUN_ID" "NAME=$OUTSIDE_NAME; "'waited=0
until nslookup "$NAME" 2>&1 | grep -A3 "^Name:" | grep -q "^Address"; do
  [ "$waited" -ge 150 ] && { echo "LAN_DNS=unresolved"; nslookup "$NAME" 2>&1; exit 1; }
  sleep 3; waited=$((waited + 3))
done
echo "LAN_DNS=resolved after $waited s"; nslookup "$NAME" 2>&1'
`;
  },
  judge: (out) => {
    const m = markers(out.stdout);
    if (!isIp(m.get('OUTSIDE_IP'))) return fail(`no address for the outside GPU host: ${tail(out, 4).replace(/\n/g, ' | ')}`);
    if (!m.get('LAN_DNS')?.startsWith('resolved'))
      return fail(`pods cannot resolve the outside GPU host's name: ${tail(out, 6).replace(/\n/g, ' | ')}`);
    return pass(`outside GPU host at ${m.get('OUTSIDE_IP')}, ${m.get('LAN_DNS')}`);
  },
};

const outsideInstall: ClusterStep = {
  id: 'outside-gpu-install',
  title: 'in-cluster stand-in scaled to 0; helm upgrade: gpuExternalName.host = the outside host, its address the only GPU CIDR',
  kind: 'setup',
  body: (s) => {
    const { alias, name, address = '' } = outside(s);
    const values = e2eValues({
      imageRepository: s.relayImage.repository,
      imageTag: s.relayImage.tag,
      pullPolicy: s.relayImage.pullPolicy,
      gpuHost: name,
      gpuPort: s.gpuPort,
      gpuServiceName: s.gpuServiceName,
      ingressNamespaceLabels: ingressNamespaceLabels(s),
      ingressPodLabels: ingressPodLabels(),
      replicas: s.replicas,
    });
    return `${shExports({ OUTSIDE_ALIAS: alias, OUTSIDE_ADDRESS: address })}
${HOST_IP}outside_ip=$(host_ip "$OUTSIDE_ALIAS")
[ -n "$outside_ip" ] || { echo "cannot resolve $OUTSIDE_ALIAS from the tool box"; exit 1; }
# The in-cluster stand-in goes away, so whatever answers from now on is the host outside the cluster.
kubectl -n "$GPU_NS" scale "deploy/$STANDIN" --replicas=0 || exit 1
waited=0
while [ -n "$(kubectl -n "$GPU_NS" get pods -l "app.kubernetes.io/name=$STANDIN" -o name)" ]; do
  [ "$waited" -ge "$ROLLOUT_TIMEOUT" ] && { echo "the in-cluster stand-in did not go away"; exit 1; }
  sleep 2; waited=$((waited + 2))
done
helm upgrade --install "$RELEASE" "$CHART" --namespace "$NS" --wait --timeout "\${ROLLOUT_TIMEOUT}s" \\
  ${setJsonArgs(values).map(shQuote).join(' ')} \\
  --set-json "${VALUE_KEYS.networkPolicyGpuCidrs}=[\\"$(cidr_of "$outside_ip")\\"]"
`;
  },
  judge: (out) =>
    out.exitCode === 0 && /STATUS: deployed/.test(out.stdout)
      ? pass('release upgraded to the outside GPU host')
      : fail(`helm upgrade to the outside GPU host failed: ${tail(out, 8).replace(/\n/g, ' | ')}`),
};

const outsideResolves: ClusterStep = {
  id: 'outside-gpu-dns-from-relay',
  title: 'from the relay pod, gpu-server is a CNAME to the outside host and answers by its short name',
  kind: 'check',
  body: () => `in_relay_pod "e2e-odns-$RUN_ID" "NS=$NS GPU_SERVICE=$GPU_SERVICE GPU_PORT=$GPU_PORT S=$CONTROL_SECONDS; "${shQuote(
    `${IN_POD_PROBE}echo NSLOOKUP
nslookup "$GPU_SERVICE.$NS.svc.cluster.local" 2>&1
echo END_NSLOOKUP
probe_until short-name "http://$GPU_SERVICE:$GPU_PORT/v1/models" "$S"
`,
  )}
`,
  judge: (out, s) => judgeGpuServerResolves(out, `${s.gpuServiceName}.${s.namespace}.svc.cluster.local`, outside(s).name),
};

const outsideThroughRelay: ClusterStep = {
  ...requestThroughService,
  id: 'outside-gpu-request',
  title: 'from the ingress namespace, a request through the Service reaches the GPU host outside the cluster',
  judge: (out) => judgeRequestThroughService(out),
};

const outsideEgress: ClusterStep = {
  id: 'outside-gpu-egress',
  title: 'the relay reaches the outside GPU host, and an in-cluster address outside its CIDR is blocked',
  kind: 'check',
  body: (s) => `${shExports({ OUTSIDE_ALIAS: outside(s).alias, OUTSIDE_ADDRESS: outside(s).address ?? '' })}
${HOST_IP}outside_ip=$(host_ip "$OUTSIDE_ALIAS"); other_ip=$(pod_ip "$GPU_NS" "$FORBIDDEN")
in_relay_pod "e2e-oegress-$RUN_ID" "GPU_IP=$outside_ip OTHER_IP=$other_ip GPU_PORT=$GPU_PORT S=$CONTROL_SECONDS; "${shQuote(
    `${IN_POD_PROBE}probe_until allowed "http://$GPU_IP:$GPU_PORT/v1/models" "$S" &&
  probe forbidden "http://$OTHER_IP:$GPU_PORT/v1/models"
`,
  )}
`,
  judge: (out) => judgeNetworkPolicyEgress(out),
};

export const OUTSIDE_GPU_STEPS: readonly ClusterStep[] = [
  outsideDns,
  outsideInstall,
  outsideResolves,
  outsideThroughRelay,
  outsideEgress,
];

/**
 * The cluster steps of a scenario: the in-cluster ones, the example values files, then the outside-GPU
 * variant when it has one.
 */
export function clusterSteps(s: Scenario): readonly ClusterStep[] {
  const inCluster = [...CLUSTER_STEPS, examplesStrictApply];
  return s.outsideGpu ? [...inCluster, ...OUTSIDE_GPU_STEPS] : inCluster;
}
