import { FORBIDDEN_NAME, type Scenario, STANDIN_NAME } from './scenario.ts';

type Manifest = Record<string, unknown>;

const E2E_LABEL = { 'app.kubernetes.io/part-of': 'tokenplace-relay-e2e' };

export function namespaces(s: Scenario): Manifest[] {
  const ns = (name: string, labels: Record<string, string> = {}): Manifest => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { ...E2E_LABEL, ...labels } },
  });
  return [
    // The chart claims the Pod Security Standard "restricted": the API server enforces it here.
    ns(s.namespace, { 'pod-security.kubernetes.io/enforce': 'restricted' }),
    ns(s.ingressNamespace),
    ns(s.outsiderNamespace),
    ns(s.gpuNamespace, { 'pod-security.kubernetes.io/enforce': 'restricted' }),
  ];
}

function standinWorkload(s: Scenario, name: string): Manifest[] {
  const labels = { 'app.kubernetes.io/name': name, ...E2E_LABEL };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: s.gpuNamespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'app.kubernetes.io/name': name } },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 1000,
              runAsGroup: 1000,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'gpu',
                image: s.standinImage,
                imagePullPolicy: s.standinPullPolicy,
                env: [
                  { name: 'STANDIN_HOST', value: '0.0.0.0' },
                  { name: 'STANDIN_PORT', value: String(s.gpuPort) },
                ],
                ports: [{ name: 'http', containerPort: s.gpuPort }],
                readinessProbe: { httpGet: { path: '/v1/models', port: 'http' }, periodSeconds: 2 },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: s.gpuNamespace, labels },
      spec: { selector: { 'app.kubernetes.io/name': name }, ports: [{ name: 'http', port: s.gpuPort, targetPort: 'http' }] },
    },
  ];
}

/** The stand-in GPU server, and a second copy the relay must NOT be able to reach. */
export function gpuStandins(s: Scenario): Manifest[] {
  return [...standinWorkload(s, STANDIN_NAME), ...standinWorkload(s, FORBIDDEN_NAME)];
}

/** A `kubectl apply` of the manifests as one JSON List, fed through a quoted here-document. */
export function applyScript(manifests: Manifest[]): string {
  const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }, null, 2);
  if (list.includes('\nE2E_MANIFESTS\n')) throw new Error('manifest text contains the here-document delimiter');
  return `kubectl apply -f - <<'E2E_MANIFESTS'\n${list}\nE2E_MANIFESTS\n`;
}
