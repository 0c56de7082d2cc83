/**
 * The chart's value keys the pipeline sets, in one place. If the chart renames a key, change it
 * here only; `e2eValues` and `setJsonArgs` build everything the pipeline passes to helm from these.
 */
export const VALUE_KEYS = {
  imageRepository: 'image.repository',
  imageTag: 'image.tag',
  imageDigest: 'image.digest',
  imagePullPolicy: 'image.pullPolicy',
  /** The HTTP GPU server switch: the e2e's stand-in is one, so the pipeline turns it on. */
  upstreamEnabled: 'env.upstream.enabled',
  gpuHost: 'gpuExternalName.host',
  gpuPort: 'gpuExternalName.port',
  gpuServiceName: 'gpuExternalName.name',
  gpuHeadlessEnabled: 'gpuExternalName.headless.enabled',
  networkPolicyEnabled: 'networkPolicy.enabled',
  /** Whether the pods may start without the server-token Secret (the e2e creates none). */
  secretOptional: 'secret.optional',
  networkPolicyGpuCidrs: 'networkPolicy.gpuServer.cidrs',
  /**
   * Labels of the namespace allowed to reach the relay (Traefik's), and of the pods in it. Helm merges a
   * map given with --set-json into the chart's default map (default keys the map lacks stay and must
   * match too), so these maps use the keys of the defaults; ci/test/chart-contract.test.ts checks the
   * rendered NetworkPolicy admits the e2e probe pods.
   */
  networkPolicyIngressNamespaceSelector: 'networkPolicy.traefik.namespaceSelector',
  networkPolicyIngressPodSelector: 'networkPolicy.traefik.podSelector',
  ingressEnabled: 'ingress.enabled',
  replicaCount: 'replicaCount',
  /** The e2e relay only forwards to the stand-in HTTP GPU server: its replicas need no shared token.place state. */
  stateAllowPerPod: 'state.allowPerPodState',
  serviceMonitorEnabled: 'serviceMonitor.enabled',
} as const;

/** The chart's name; with a release name that contains it, the standard fullname helper yields the release name. */
export const CHART_NAME = 'tokenplace-relay';

/** Name of the Deployment and the relay Service for a release, per the chart's fullname helper. */
export function relayFullname(release: string): string {
  return release.includes(CHART_NAME) ? release : `${release}-${CHART_NAME}`;
}

export interface E2eValueInputs {
  imageRepository: string;
  imageTag: string;
  pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  gpuHost: string;
  gpuPort: number;
  gpuServiceName: string;
  ingressNamespaceLabels: Record<string, string>;
  ingressPodLabels: Record<string, string>;
  replicas: number;
}

/** Values for an e2e install, as `key=JSON` pairs for `helm --set-json` (the GPU CIDR is added at run time). */
export function e2eValues(v: E2eValueInputs): [string, unknown][] {
  return [
    [VALUE_KEYS.imageRepository, v.imageRepository],
    [VALUE_KEYS.imageTag, v.imageTag],
    [VALUE_KEYS.imageDigest, ''],
    [VALUE_KEYS.imagePullPolicy, v.pullPolicy],
    [VALUE_KEYS.upstreamEnabled, true],
    [VALUE_KEYS.gpuHost, v.gpuHost],
    [VALUE_KEYS.gpuPort, v.gpuPort],
    [VALUE_KEYS.gpuServiceName, v.gpuServiceName],
    [VALUE_KEYS.gpuHeadlessEnabled, false],
    [VALUE_KEYS.networkPolicyEnabled, true],
    [VALUE_KEYS.networkPolicyIngressNamespaceSelector, v.ingressNamespaceLabels],
    [VALUE_KEYS.networkPolicyIngressPodSelector, v.ingressPodLabels],
    [VALUE_KEYS.ingressEnabled, false],
    [VALUE_KEYS.replicaCount, v.replicas],
    [VALUE_KEYS.stateAllowPerPod, v.replicas > 1],
    [VALUE_KEYS.serviceMonitorEnabled, false],
    [VALUE_KEYS.secretOptional, true],
  ];
}

/** `--set-json key=value` arguments; each value is JSON, so strings, numbers and maps keep their types. */
export function setJsonArgs(pairs: [string, unknown][]): string[] {
  return pairs.flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
}

/** Values that make `helm lint` render the chart with the HTTP upstream on (then the GPU host and its CIDR are required). */
export const LINT_SET_ARGS = [
  '--set',
  `${VALUE_KEYS.upstreamEnabled}=true`,
  '--set',
  `${VALUE_KEYS.gpuHost}=gpu.example.internal`,
  '--set-json',
  `${VALUE_KEYS.networkPolicyGpuCidrs}=["192.0.2.10/32"]`,
];
