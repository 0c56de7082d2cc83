/** The values matrix the chart is rendered with; each case is rendered once per Helm version. */
import { HTTP_UPSTREAM_VALUES, type RenderCase } from './render.ts';

export const SERVER_TOKEN = 's3cr3t-relay-token-do-not-leak';
export const DIGEST = `sha256:${'ab12'.repeat(16)}`;

export const CASES = {
  /** Nothing set: token.place compute nodes only, no HTTP upstream. */
  defaults: { values: [] },
  httpUpstream: { values: [HTTP_UPSTREAM_VALUES] },
  everything: {
    values: [
      HTTP_UPSTREAM_VALUES,
      {
        image: { tag: '1.2.3' },
        ingress: {
          enabled: true,
          clusterIssuer: 'letsencrypt-production',
          annotations: { 'traefik.ingress.kubernetes.io/router.entrypoints': 'websecure' },
          hosts: [{ host: 'relay.example.org', paths: [{ path: '/', pathType: 'Prefix' }] }],
          tls: [{ secretName: 'relay-example-org-tls', hosts: ['relay.example.org'] }],
        },
        serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
        prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
        autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 5 },
        state: { url: 'redis://valkey-primary.valkey.svc:6379', passwordSecret: { name: 'valkey' } },
        podDisruptionBudget: { enabled: true },
        serviceAccount: { create: true, annotations: { 'example.org/role': 'relay' } },
        secret: { create: true, serverToken: SERVER_TOKEN },
        env: { maxConnections: 4096, logLevel: 'debug' },
        extraEnv: [
          { name: 'CLOUD_REGION', value: 'eu-west-1' },
          { name: 'CLOUD_KEY', valueFrom: { secretKeyRef: { name: 'cloud-credentials', key: 'key' } } },
        ],
        extraEnvFrom: [
          { secretRef: { name: 'cloud-credentials' } },
          { configMapRef: { name: 'cloud-settings' }, prefix: 'CLOUD_' },
        ],
        podAnnotations: { 'example.org/team': 'gpu' },
        podLabels: { 'example.org/tier': 'edge' },
        commonLabels: { 'example.org/owner': 'family' },
        nodeSelector: { 'kubernetes.io/arch': 'arm64' },
        tolerations: [{ key: 'pi', operator: 'Exists', effect: 'NoSchedule' }],
        priorityClassName: 'relay-critical',
        imagePullSecrets: ['ghcr-pull'],
      },
    ],
  },
  headless: {
    values: [
      {
        env: { upstream: { enabled: true } },
        gpuExternalName: { host: 'gpu.home.arpa', headless: { enabled: true, ips: ['192.168.1.50', 'fd00::50'] } },
      },
    ],
  },
  digest: { values: [HTTP_UPSTREAM_VALUES, { image: { tag: '9.9.9', digest: DIGEST } }] },
  loadBalancer: {
    values: [
      HTTP_UPSTREAM_VALUES,
      {
        service: {
          type: 'LoadBalancer',
          port: 8081,
          annotations: { 'metallb.universe.tf/address-pool': 'home' },
          loadBalancerSourceRanges: ['192.168.1.0/24'],
          externalTrafficPolicy: 'Local',
        },
      },
    ],
  },
  customPorts: {
    values: [
      HTTP_UPSTREAM_VALUES,
      { env: { port: 6000 }, service: { port: 8080 }, gpuExternalName: { name: 'gpu-box', port: 9000 } },
    ],
  },
  /** env.metricsPort null: /metrics back on the relay's port, as before the metrics port existed. */
  metricsOnRelayPort: {
    values: [
      HTTP_UPSTREAM_VALUES,
      { env: { metricsPort: null }, serviceMonitor: { enabled: true }, prometheusRule: { enabled: true } },
    ],
  },
  upstreamUrl: { values: [HTTP_UPSTREAM_VALUES, { env: { upstream: { url: 'https://gpu.example.net:8443/base' } } }] },
  twoReplicasPdb: {
    values: [
      HTTP_UPSTREAM_VALUES,
      { replicaCount: 2, podDisruptionBudget: { enabled: true }, state: { allowPerPodState: true } },
    ],
  },
  oneReplicaPdb: { values: [HTTP_UPSTREAM_VALUES, { replicaCount: 1, podDisruptionBudget: { enabled: true } }] },
  autoscaleFromOnePdb: {
    values: [
      HTTP_UPSTREAM_VALUES,
      {
        autoscaling: { enabled: true, minReplicas: 1, maxReplicas: 3 },
        podDisruptionBudget: { enabled: true },
        state: { allowPerPodState: true },
      },
    ],
  },
  autoscaleToOnePdb: {
    values: [
      HTTP_UPSTREAM_VALUES,
      {
        autoscaling: { enabled: true, minReplicas: 1, maxReplicas: 1 },
        podDisruptionBudget: { enabled: true },
        state: { allowPerPodState: true },
      },
    ],
  },
  networkPolicyOff: {
    values: [
      { env: { upstream: { enabled: true } }, gpuExternalName: { host: 'gpu.home.arpa' }, networkPolicy: { enabled: false } },
    ],
  },
  graceJustEnough: { values: [HTTP_UPSTREAM_VALUES, { terminationGracePeriodSeconds: 26 }] },
  otherHost: {
    values: [
      HTTP_UPSTREAM_VALUES,
      {
        ingress: {
          enabled: true,
          hosts: [{ host: 'relay.other.test' }],
          tls: [{ secretName: 'other-tls', hosts: ['relay.other.test'] }],
        },
      },
    ],
  },
  admission: {
    values: [
      HTTP_UPSTREAM_VALUES,
      {
        env: {
          upstream: { maxConcurrency: 2 },
          queue: { length: 16, timeoutMs: 15000 },
          registration: {
            allowedUpstreams: ['192.168.1.0/24', '10.0.0.7', 'fd00::/8', 'gpu.home.arpa', '*.lan'],
            leaseSeconds: 60,
          },
          cors: { origins: ['https://chat.example.org', 'http://localhost:5173'], credentials: true },
        },
        metricsToken: { existingSecret: 'relay-metrics', key: 'token' },
        serviceMonitor: { enabled: true },
      },
    ],
  },
  dev: { exampleFiles: ['tokenplace-relay.values.dev.yaml'] },
  staging: { exampleFiles: ['tokenplace-relay.values.staging.yaml'] },
  personal: { release: 'relay-personal', exampleFiles: ['relay-personal.values.yaml'] },
  family: { release: 'relay-family', exampleFiles: ['relay-family.values.yaml'] },
} satisfies Record<string, RenderCase>;

export type CaseName = keyof typeof CASES;
export const CASE_NAMES = Object.keys(CASES) as CaseName[];
