/**
 * Values the chart must refuse, each with the reason helm has to print. `schema` cases are rejected
 * by values.schema.json (Helm 4 and Helm 3 word the same rule differently); `template` cases by
 * the chart's own checks in _helpers.tpl (same message under both).
 */
import { UPSTREAM_AND_PROTOCOL_SCHEMA_CASES, UPSTREAM_AND_PROTOCOL_TEMPLATE_CASES } from './bad-values-protocol.ts';
import { STATE_SCHEMA_CASES } from './bad-values-state.ts';
import type { Values } from './render.ts';

export interface BadValuesCase {
  name: string;
  values: Values;
  /** Substrings helm's error output must contain, per Helm major version. */
  expect: { 4: string[]; 3: string[] };
}

const both = (...parts: string[]) => ({ 4: parts, 3: parts });

export const SCHEMA_CASES: BadValuesCase[] = [
  {
    name: 'unknown top-level key',
    values: { replicaCountt: 2 },
    expect: {
      4: ["at '': additional properties 'replicaCountt' not allowed"],
      3: ['(root): Additional property replicaCountt is not allowed'],
    },
  },
  {
    name: 'unknown nested key',
    values: { image: { tagg: '1.0' } },
    expect: {
      4: ["at '/image': additional properties 'tagg' not allowed"],
      3: ['image: Additional property tagg is not allowed'],
    },
  },
  {
    name: 'unknown key three levels down',
    values: { networkPolicy: { gpuServer: { cidr: '10.0.0.0/8' } } },
    expect: {
      4: ["at '/networkPolicy/gpuServer': additional properties 'cidr' not allowed"],
      3: ['networkPolicy.gpuServer: Additional property cidr is not allowed'],
    },
  },
  {
    name: 'unknown key inside a probe',
    values: { probes: { readiness: { path: '/ready' } } },
    expect: {
      4: ["at '/probes/readiness': additional properties 'path' not allowed"],
      3: ['probes.readiness: Additional property path is not allowed'],
    },
  },
  {
    name: 'unknown key inside an extraEnv entry',
    values: { extraEnv: [{ name: 'A', valu: 'b' }] },
    expect: {
      4: ["at '/extraEnv/0': additional properties 'valu' not allowed"],
      3: ['extraEnv.0: Additional property valu is not allowed'],
    },
  },
  {
    name: 'replicaCount as a string',
    values: { replicaCount: '2' },
    expect: {
      4: ["at '/replicaCount': got string, want integer"],
      3: ['replicaCount: Invalid type. Expected: integer, given: string'],
    },
  },
  {
    name: 'a toggle given as a string',
    values: { ingress: { enabled: 'yes' } },
    expect: {
      4: ["at '/ingress/enabled': got string, want boolean"],
      3: ['ingress.enabled: Invalid type. Expected: boolean, given: string'],
    },
  },
  {
    name: 'GPU port above 65535',
    values: { gpuExternalName: { port: 70000 } },
    expect: {
      4: ["at '/gpuExternalName/port': maximum: got 70,000, want 65,535"],
      3: ['gpuExternalName.port: Must be less than or equal to 65535'],
    },
  },
  {
    name: 'negative concurrency per GPU host',
    values: { env: { upstream: { maxConcurrency: -1 } } },
    expect: {
      4: ["at '/env/upstream/maxConcurrency': minimum: got -1, want 0"],
      3: ['env.upstream.maxConcurrency: Must be greater than or equal to 0'],
    },
  },
  {
    name: 'queue length as a string',
    values: { env: { queue: { length: '64' } } },
    expect: {
      4: ["at '/env/queue/length': got string, want integer"],
      3: ['env.queue.length: Invalid type. Expected: integer, given: string'],
    },
  },
  {
    name: 'allowed upstream given as a URL',
    values: { env: { registration: { allowedUpstreams: ['http://10.0.0.7:8000'] } } },
    expect: {
      4: ["at '/env/registration/allowedUpstreams/0': 'http://10.0.0.7:8000' does not match pattern"],
      3: ['env.registration.allowedUpstreams.0: Does not match pattern'],
    },
  },
  {
    name: 'CORS origin with a path',
    values: { env: { cors: { origins: ['https://app.example.org/'] } } },
    expect: {
      4: ["at '/env/cors/origins/0': 'https://app.example.org/' does not match pattern"],
      3: ['env.cors.origins.0: Does not match pattern'],
    },
  },
  {
    name: 'metrics token Secret that is not a Kubernetes name',
    values: { metricsToken: { existingSecret: 'Relay_Metrics' } },
    expect: {
      4: ["at '/metricsToken/existingSecret'"],
      3: ['metricsToken.existingSecret'],
    },
  },
  ...UPSTREAM_AND_PROTOCOL_SCHEMA_CASES,
  ...STATE_SCHEMA_CASES,
  {
    name: 'relay port 0',
    values: { env: { port: 0 } },
    expect: { 4: ["at '/env/port': minimum: got 0, want 1"], 3: ['env.port: Must be greater than or equal to 1'] },
  },
  {
    name: 'Service port above 65535',
    values: { service: { port: 65536 } },
    expect: {
      4: ["at '/service/port': maximum: got 65,536, want 65,535"],
      3: ['service.port: Must be less than or equal to 65535'],
    },
  },
  {
    name: 'GPU CIDR with an octet above 255',
    values: { networkPolicy: { gpuServer: { cidrs: ['192.168.1.300/32'] } } },
    expect: {
      4: ["at '/networkPolicy/gpuServer/cidrs/0': '192.168.1.300/32' does not match pattern"],
      3: ['networkPolicy.gpuServer.cidrs.0: Does not match pattern'],
    },
  },
  {
    name: 'GPU CIDR without a prefix length',
    values: { networkPolicy: { gpuServer: { cidrs: ['192.168.1.50'] } } },
    expect: {
      4: ["at '/networkPolicy/gpuServer/cidrs/0': '192.168.1.50' does not match pattern"],
      3: ['networkPolicy.gpuServer.cidrs.0: Does not match pattern'],
    },
  },
  {
    name: 'LoadBalancer source range with prefix /33',
    values: { service: { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/33'] } },
    expect: {
      4: ["at '/service/loadBalancerSourceRanges/0': '10.0.0.0/33' does not match pattern"],
      3: ['service.loadBalancerSourceRanges.0: Does not match pattern'],
    },
  },
  {
    name: 'malformed CIDR in an extra ingress rule',
    values: { networkPolicy: { extraIngress: [{ from: [{ ipBlock: { cidr: 'lan' } }] }] } },
    expect: {
      4: ["at '/networkPolicy/extraIngress/0/from/0/ipBlock/cidr': 'lan' does not match pattern"],
      3: ['networkPolicy.extraIngress.0.from.0.ipBlock.cidr: Does not match pattern'],
    },
  },
  {
    name: 'empty GPU host',
    values: { gpuExternalName: { host: '' } },
    expect: {
      4: ["at '/gpuExternalName/host': minLength: got 0, want 1"],
      3: ['gpuExternalName.host: String length must be greater than or equal to 1'],
    },
  },
  {
    name: 'GPU host that is not a DNS name',
    values: { gpuExternalName: { host: 'GPU_Box' } },
    expect: {
      4: ["at '/gpuExternalName/host': 'GPU_Box' does not match pattern"],
      3: ['gpuExternalName.host: Does not match pattern'],
    },
  },
  {
    name: 'GPU Service name that is not a DNS-1035 label',
    values: { gpuExternalName: { name: '1-gpu' } },
    expect: {
      4: ["at '/gpuExternalName/name': '1-gpu' does not match pattern"],
      3: ['gpuExternalName.name: Does not match pattern'],
    },
  },
  {
    name: 'NetworkPolicy on without GPU CIDRs',
    values: { networkPolicy: { gpuServer: { cidrs: [] } } },
    expect: {
      4: ["at '/networkPolicy/gpuServer/cidrs': minItems: got 0, want 1"],
      3: ['networkPolicy.gpuServer.cidrs: Array must have at least 1 items'],
    },
  },
  {
    name: 'headless mode without IPs',
    values: { gpuExternalName: { headless: { enabled: true } } },
    expect: {
      4: ["at '/gpuExternalName/headless/ips': minItems: got 0, want 1"],
      3: ['gpuExternalName.headless.ips: Array must have at least 1 items'],
    },
  },
  {
    name: 'headless mode with an invalid IP',
    values: { gpuExternalName: { headless: { enabled: true, ips: ['300.1.1.1'] } } },
    expect: {
      4: ["at '/gpuExternalName/headless/ips/0': '300.1.1.1' does not match pattern"],
      3: ['gpuExternalName.headless.ips.0: Does not match pattern'],
    },
  },
  {
    name: 'chart-created Secret without a token',
    values: { secret: { create: true } },
    expect: {
      4: ["at '/secret/serverToken': minLength: got 0, want 1"],
      3: ['secret.serverToken: String length must be greater than or equal to 1'],
    },
  },
  {
    name: 'Ingress on without hosts',
    values: { ingress: { enabled: true } },
    expect: { 4: ["at '/ingress/hosts': minItems: got 0, want 1"], 3: ['ingress.hosts: Array must have at least 1 items'] },
  },
  {
    name: 'Ingress host in capitals',
    values: { ingress: { enabled: true, hosts: [{ host: 'Relay.Example.org' }] } },
    expect: {
      4: ["at '/ingress/hosts/0/host': 'Relay.Example.org' does not match pattern"],
      3: ['ingress.hosts.0.host: Does not match pattern'],
    },
  },
  {
    name: 'malformed image digest',
    values: { image: { digest: 'sha256:abc' } },
    expect: { 4: ["at '/image/digest': 'sha256:abc' does not match pattern"], 3: ['image.digest: Does not match pattern'] },
  },
  {
    name: 'unknown pull policy',
    values: { image: { pullPolicy: 'Sometimes' } },
    expect: {
      4: ["at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"],
      3: ['image.pullPolicy: image.pullPolicy must be one of the following: "Always", "IfNotPresent", "Never"'],
    },
  },
  {
    name: 'unknown log level',
    values: { env: { logLevel: 'verbose' } },
    expect: {
      4: ["at '/env/logLevel': value must be one of 'fatal'"],
      3: ['env.logLevel: env.logLevel must be one of the following: "fatal"'],
    },
  },
  {
    name: 'upstream URL with another scheme',
    values: { env: { upstream: { url: 'ftp://gpu-server:8000' } } },
    expect: {
      4: ["at '/env/upstream/url': 'ftp://gpu-server:8000' does not match pattern"],
      3: ['env.upstream.url: Does not match pattern'],
    },
  },
  {
    name: 'upstream URL with credentials',
    values: { env: { upstream: { url: 'http://user:pw@gpu-server:8000' } } },
    expect: {
      4: ["at '/env/upstream/url': 'http://user:pw@gpu-server:8000' does not match pattern"],
      3: ['env.upstream.url: Does not match pattern'],
    },
  },
  {
    name: 'root user',
    values: { securityContext: { runAsUser: 0 } },
    expect: {
      4: ["at '/securityContext/runAsUser': minimum: got 0, want 1"],
      3: ['securityContext.runAsUser: Must be greater than or equal to 1'],
    },
  },
  {
    name: 'connection cap of 0',
    values: { env: { maxConnections: 0 } },
    expect: {
      4: ["at '/env/maxConnections': minimum: got 0, want 1"],
      3: ['env.maxConnections: Must be greater than or equal to 1'],
    },
  },
  {
    name: 'liveness successThreshold other than 1',
    values: { probes: { liveness: { successThreshold: 2 } } },
    expect: {
      4: ["at '/probes/liveness/successThreshold': value must be 1"],
      3: ['probes.liveness.successThreshold: probes.liveness.successThreshold does not match: 1'],
    },
  },
  {
    name: 'memory in MB instead of a Kubernetes quantity',
    values: { resources: { requests: { memory: '96MB' } } },
    expect: {
      4: ["at '/resources/requests/memory': '96MB' does not match pattern"],
      3: ['resources.requests.memory: Does not match pattern'],
    },
  },
  {
    name: 'scrape interval that is not a Prometheus duration',
    values: { serviceMonitor: { interval: '30 seconds' } },
    expect: {
      4: ["at '/serviceMonitor/interval': '30 seconds' does not match pattern"],
      3: ['serviceMonitor.interval: Does not match pattern'],
    },
  },
  {
    name: 'autoscaling minimum of 0',
    values: { autoscaling: { minReplicas: 0 } },
    expect: {
      4: ["at '/autoscaling/minReplicas': minimum: got 0, want 1"],
      3: ['autoscaling.minReplicas: Must be greater than or equal to 1'],
    },
  },
  {
    name: 'PodDisruptionBudget that allows no eviction',
    values: { podDisruptionBudget: { maxUnavailable: 0 } },
    expect: {
      4: ["at '/podDisruptionBudget/maxUnavailable': minimum: got 0, want 1"],
      3: ['podDisruptionBudget.maxUnavailable: Must be greater than or equal to 1'],
    },
  },
  {
    name: 'Service type ExternalName for the relay',
    values: { service: { type: 'ExternalName' } },
    expect: {
      4: ["at '/service/type': value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'"],
      3: ['service.type: service.type must be one of the following'],
    },
  },
];

export const TEMPLATE_CASES: BadValuesCase[] = [
  {
    name: 'metrics port equal to the relay port',
    values: { env: { port: 9090, metricsPort: 9090 } },
    expect: both('env.metricsPort (9090) must differ from env.port'),
  },
  {
    name: 'grace period equal to drain + shutdown',
    values: { terminationGracePeriodSeconds: 25 },
    expect: both(
      'terminationGracePeriodSeconds (25) must be greater than env.drainSeconds (5) + env.shutdownTimeoutSeconds (20) = 25',
    ),
  },
  {
    name: 'grace period below longer drain and shutdown settings',
    values: { terminationGracePeriodSeconds: 40, env: { drainSeconds: 10, shutdownTimeoutSeconds: 45 } },
    expect: both(
      'terminationGracePeriodSeconds (40) must be greater than env.drainSeconds (10) + env.shutdownTimeoutSeconds (45) = 55',
    ),
  },
  {
    name: 'ExternalName pointing at an IP address',
    values: { gpuExternalName: { host: '192.168.1.50' } },
    expect: both('gpuExternalName.host (192.168.1.50) is an IP address', 'gpuExternalName.headless.enabled=true'),
  },
  ...UPSTREAM_AND_PROTOCOL_TEMPLATE_CASES,
  {
    name: 'LoadBalancer source ranges on a ClusterIP Service',
    values: { service: { loadBalancerSourceRanges: ['192.168.1.0/24'] } },
    expect: both('service.loadBalancerSourceRanges only applies to service.type LoadBalancer, not ClusterIP'),
  },
  {
    name: 'externalTrafficPolicy on a ClusterIP Service',
    values: { service: { externalTrafficPolicy: 'Local' } },
    expect: both('service.externalTrafficPolicy only applies to service.type NodePort or LoadBalancer'),
  },
  {
    name: 'autoscaling minimum above maximum',
    values: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 }, state: { url: 'redis://valkey:6379' } },
    expect: both('autoscaling.minReplicas (5) must not exceed autoscaling.maxReplicas (3)'),
  },
  {
    name: 'test image repository without tag or digest',
    values: { tests: { image: { repository: 'docker.io/library/node' } } },
    expect: both('tests.image.repository is set: set tests.image.tag or tests.image.digest too'),
  },
  {
    name: 'extraEnv overriding a variable the chart sets',
    values: { extraEnv: [{ name: 'TOKENPLACE_RELAY_UPSTREAM_URL', value: 'http://elsewhere:1' }] },
    expect: both('extraEnv sets TOKENPLACE_RELAY_UPSTREAM_URL, which the chart sets from its own values'),
  },
  {
    name: 'extraEnv setting the metrics token',
    values: { extraEnv: [{ name: 'TOKENPLACE_METRICS_TOKEN', value: 'in-the-values' }] },
    expect: both('extraEnv sets TOKENPLACE_METRICS_TOKEN, which the chart sets from its own values'),
  },
  {
    name: 'CORS * with credentials',
    values: { env: { cors: { origins: ['*'], credentials: true } } },
    expect: both('env.cors.origins "*" cannot be used with env.cors.credentials=true'),
  },
  {
    name: 'CORS * combined with an origin',
    values: { env: { cors: { origins: ['*', 'https://app.example.org'] } } },
    expect: both('env.cors.origins: "*" allows every origin and cannot be combined with a list'),
  },
  {
    name: 'extraEnv entry with both value and valueFrom',
    values: { extraEnv: [{ name: 'A', value: 'x', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] },
    expect: both('extraEnv entry A has both value and valueFrom'),
  },
  {
    name: 'extraEnvFrom entry naming neither a Secret nor a ConfigMap',
    values: { extraEnvFrom: [{ prefix: 'CLOUD_' }] },
    expect: both('each extraEnvFrom entry needs exactly one of secretRef or configMapRef'),
  },
  {
    name: 'TLS host missing from the Ingress hosts',
    values: {
      ingress: {
        enabled: true,
        hosts: [{ host: 'relay.example.org' }],
        tls: [{ secretName: 't', hosts: ['other.example.org'] }],
      },
    },
    expect: both('ingress.tls lists host other.example.org, which is not in ingress.hosts'),
  },
  {
    name: 'pod label that would change the selector',
    values: { podLabels: { 'app.kubernetes.io/instance': 'other' } },
    expect: both('commonLabels/podLabels must not set app.kubernetes.io/instance'),
  },
];
