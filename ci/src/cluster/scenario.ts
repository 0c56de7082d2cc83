import { relayFullname } from '../chart-values.ts';
import { CONTRACT } from '../project.ts';

/** Everything the cluster checks need to know about one e2e run, on k3s (Dagger) or kind. */
export interface Scenario {
  /** Namespace the chart is installed into. */
  namespace: string;
  /** Stands in for Traefik's namespace: the only one the NetworkPolicy admits. */
  ingressNamespace: string;
  /** A namespace that must not reach the relay. */
  outsiderNamespace: string;
  /** Where the stand-in GPU server and a second, forbidden target run. */
  gpuNamespace: string;
  release: string;
  /** Path of the chart as seen by the shell that runs the checks. */
  chartPath: string;
  /** docs/examples (the example values files) as seen by the shell that runs the checks. */
  examplesPath: string;
  relayImage: { repository: string; tag: string; pullPolicy: 'Always' | 'IfNotPresent' | 'Never' };
  standinImage: string;
  probeImage: string;
  standinPullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  gpuServiceName: string;
  gpuPort: number;
  relayPort: number;
  replicas: number;
  /** Lower-case letters and digits; keeps probe pod names of concurrent runs apart. */
  runId: string;
  /** controlSeconds: how long a positive control (a target that must answer) is retried. */
  timeouts: { rolloutSeconds: number; podSeconds: number; loadSeconds: number; controlSeconds: number };
  /** The cluster server's log file as the step shell sees it (k3s), tailed when a setup step fails. */
  serverLog?: string;
  /**
   * A stand-in GPU host outside the cluster (k3s: a Dagger service bound to the k3s container and to
   * the tool box as `alias`). The cluster resolves it as `name`, a LAN-style DNS name served by a
   * CoreDNS zone the checks add, as a home router's DNS would; the checks then point the chart at it.
   * `address`: where the host is when the runner placed it itself (the local cluster's LAN namespace);
   * without it the address is resolved from `alias`.
   */
  outsideGpu?: { alias: string; name: string; address?: string };
}

export const STANDIN_NAME = 'gpu-standin';

/**
 * How long a positive control (a target that must be reachable) is retried before it counts as failed:
 * k3s's kube-router admits a new pod's address a moment after the kubelet reports it.
 */
export const CONTROL_RETRY_SECONDS = 30;

/** The outside-GPU variant of the k3s run: the Dagger service's alias, and the LAN-style name pods use. */
export const OUTSIDE_GPU = { alias: 'gpu-outside', name: 'gpu-host.lan.test' } as const;

/**
 * Labels of every probe, client and load pod the checks start (all namespaces alike). In the ingress
 * namespace they stand in for Traefik's pods, so the chart's NetworkPolicy is told to admit these labels
 * from that namespace; the same pod in the outsider namespace must still be kept out.
 */
export const PROBE_POD_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'e2e-probe',
  'app.kubernetes.io/part-of': 'tokenplace-relay-e2e',
};
export const FORBIDDEN_NAME = 'not-the-gpu';

export function defaultScenario(
  overrides: Partial<Scenario> &
    Pick<Scenario, 'chartPath' | 'examplesPath' | 'relayImage' | 'standinImage' | 'probeImage' | 'runId'>,
): Scenario {
  const scenario: Scenario = {
    namespace: 'tokenplace-e2e',
    ingressNamespace: 'e2e-traefik',
    outsiderNamespace: 'e2e-outsider',
    gpuNamespace: 'e2e-gpu',
    release: 'tokenplace-relay',
    standinPullPolicy: 'IfNotPresent',
    gpuServiceName: CONTRACT.gpuServiceName,
    gpuPort: CONTRACT.gpuPort,
    relayPort: CONTRACT.relayPort,
    replicas: 2,
    timeouts: { rolloutSeconds: 240, podSeconds: 120, loadSeconds: 90, controlSeconds: CONTROL_RETRY_SECONDS },
    ...overrides,
  };
  validateScenario(scenario);
  return scenario;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateScenario(s: Scenario): void {
  for (const [name, value] of [
    ['namespace', s.namespace],
    ['ingressNamespace', s.ingressNamespace],
    ['outsiderNamespace', s.outsiderNamespace],
    ['gpuNamespace', s.gpuNamespace],
    ['release', s.release],
    ['gpuServiceName', s.gpuServiceName],
  ] as const) {
    if (!DNS_LABEL.test(value) || value.length > 53)
      throw new Error(`e2e scenario: ${name} ${JSON.stringify(value)} is not a DNS label`);
  }
  if (!/^[a-z0-9]{1,12}$/.test(s.runId))
    throw new Error(`e2e scenario: runId ${JSON.stringify(s.runId)} must be 1-12 lower-case letters or digits`);
  if (s.replicas < 2) throw new Error('e2e scenario: replicas must be at least 2 so a rolling restart can keep serving');
  if (s.outsideGpu) {
    if (!DNS_LABEL.test(s.outsideGpu.alias))
      throw new Error(`e2e scenario: outsideGpu.alias ${JSON.stringify(s.outsideGpu.alias)} is not a DNS label`);
    const labels = s.outsideGpu.name.split('.');
    if (s.outsideGpu.address !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(s.outsideGpu.address))
      throw new Error(`e2e scenario: outsideGpu.address ${JSON.stringify(s.outsideGpu.address)} is not an IPv4 address`);
    if (labels.length < 2 || !labels.every((label) => DNS_LABEL.test(label)) || s.outsideGpu.name.endsWith('.cluster.local'))
      throw new Error(
        `e2e scenario: outsideGpu.name ${JSON.stringify(s.outsideGpu.name)} is not a DNS name outside the cluster domain`,
      );
  }
  for (const [name, port] of [
    ['gpuPort', s.gpuPort],
    ['relayPort', s.relayPort],
  ] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`e2e scenario: ${name} ${port} is not a TCP port`);
  }
}

export function fullname(s: Scenario): string {
  return relayFullname(s.release);
}

export function relayServiceHost(s: Scenario): string {
  return `${fullname(s)}.${s.namespace}.svc.cluster.local`;
}

export function standinHost(s: Scenario): string {
  return `${STANDIN_NAME}.${s.gpuNamespace}.svc.cluster.local`;
}

/** The chart's namespaceSelector labels for the ingress namespace (the API server sets this label on every namespace). */
export function ingressNamespaceLabels(s: Scenario): Record<string, string> {
  return { 'kubernetes.io/metadata.name': s.ingressNamespace };
}

/** The chart's podSelector labels for the pods admitted from the ingress namespace: the probe pods. */
export function ingressPodLabels(): Record<string, string> {
  return { ...PROBE_POD_LABELS };
}
