import { describe, expect, it } from 'vitest';
import { validateObject } from './k8s-schema.ts';

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'relay', labels: { 'app.kubernetes.io/name': 'relay' } },
  spec: {
    selector: { matchLabels: { app: 'relay' } },
    template: {
      metadata: { labels: { app: 'relay' } },
      spec: {
        containers: [
          {
            name: 'relay',
            image: 'relay:1',
            ports: [{ name: 'http', containerPort: 5010 }],
            securityContext: { runAsUser: 65532 },
            resources: { limits: { memory: '192Mi' } },
          },
        ],
        volumes: [{ name: 'tmp', emptyDir: {} }],
      },
    },
  },
});

describe('validateObject', () => {
  it('accepts a valid Deployment', () => {
    expect(validateObject(deployment())).toEqual([]);
  });

  it('rejects unknown fields at any depth, which the generated validators alone let pass', () => {
    const d = deployment() as Record<string, unknown> & ReturnType<typeof deployment>;
    (d as Record<string, unknown>).extra = true;
    (d.metadata as Record<string, unknown>).nmae = 'typo';
    (d.spec.template.spec.containers[0].securityContext as Record<string, unknown>).readOnlyRootFileSystem = true;
    (d.spec.template.spec.volumes[0].emptyDir as Record<string, unknown>).size = '1Gi';
    expect(validateObject(d).sort()).toEqual([
      'unknown field /extra',
      'unknown field /metadata/nmae',
      'unknown field /spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem',
      'unknown field /spec/template/spec/volumes/0/emptyDir/size',
    ]);
  });

  it('treats maps (labels, resource lists) as maps, not as unknown fields', () => {
    const d = deployment();
    (d.metadata as { labels: Record<string, string> }).labels = { a: 'b', 'example.org/c': 'd' };
    d.spec.template.spec.containers[0].resources = { limits: { memory: '1Gi', cpu: '1', 'nvidia.com/gpu': '1' } } as never;
    expect(validateObject(d)).toEqual([]);
  });

  it('rejects wrong types and missing required fields', () => {
    const d = deployment();
    (d.spec.template.spec.containers[0].ports[0] as Record<string, unknown>).containerPort = '5010';
    delete (d.spec as Record<string, unknown>).selector;
    const problems = validateObject(d);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^schema: /);
    expect(problems[0]).toContain('containerPort');
    expect(problems[0]).toContain('selector');
  });

  it('checks CRD objects against their own models', () => {
    const monitor = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'relay' },
      spec: { selector: { matchLabels: { a: 'b' } }, endpoints: [{ port: 'http', path: '/metrics', intervall: '30s' }] },
    };
    expect(validateObject(monitor)).toEqual(['unknown field /spec/endpoints/0/intervall']);
    const rule = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'relay' },
      spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', for: 'soon' }] }] },
    };
    expect(validateObject(rule).join()).toMatch(/schema: .*for/);
  });

  it('rejects kinds and API versions the chart may not render', () => {
    expect(validateObject({ apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'x' } })[0]).toMatch(
      /^extensions\/v1beta1\/Ingress is not a kind this chart may render/,
    );
  });

  it('rejects invalid names and label values as the API server would', () => {
    const d = deployment();
    d.metadata.name = 'Relay_1';
    d.metadata.labels = { 'app.kubernetes.io/name': 'has space' };
    expect(validateObject(d)).toEqual([
      'metadata.name "Relay_1" is not a valid Deployment name',
      'label app.kubernetes.io/name has an invalid value "has space"',
    ]);
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: '1gpu' }, spec: {} };
    expect(validateObject(service)).toEqual(['metadata.name "1gpu" is not a valid Service name']);
  });
});
