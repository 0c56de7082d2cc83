import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { beforeAll, describe, expect, it } from 'vitest';
import { execEntrypoint } from '../../ci/test/dockerfile.ts';
import { findHelm, type HelmMajor, REPO_ROOT } from './helm-binary.ts';
import { validateObject } from './k8s-schema.ts';
import { restrictedViolations } from './pod-security.ts';
import { CHART_DIR, findAll, findOne, HTTP_UPSTREAM_VALUES, type K8sObject, renderObjects } from './render.ts';
import { CASE_NAMES, CASES, type CaseName, DIGEST, SERVER_TOKEN } from './render-cases.ts';

const rendered = new Map<string, K8sObject[]>();
const key = (major: HelmMajor, name: CaseName) => `${major}:${name}`;

/** The objects Helm 4 rendered for a case (Helm 3's are checked to be identical). */
function objectsOf(name: CaseName): K8sObject[] {
  const objects = rendered.get(key(4, name));
  if (!objects) throw new Error(`case ${name} was not rendered`);
  return objects;
}

beforeAll(async () => {
  const [helm4, helm3] = await Promise.all([findHelm(4), findHelm(3)]);
  await Promise.all(
    CASE_NAMES.flatMap((name) =>
      [helm4, helm3].map(async (helm) => {
        rendered.set(key(helm.major, name), await renderObjects(helm, CASES[name]));
      }),
    ),
  );
}, 120_000);

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests.
type Any = any;

const deployment = (name: CaseName) => findOne(objectsOf(name), 'Deployment');
const relayContainer = (name: CaseName) => deployment(name).spec.template.spec.containers.find((c: Any) => c.name === 'relay');
const testPod = (name: CaseName) => findOne(objectsOf(name), 'Pod');
const envOf = (container: Any): Record<string, Any> => Object.fromEntries(container.env.map((e: Any) => [e.name, e]));
const networkPolicy = (name: CaseName) => findOne(objectsOf(name), 'NetworkPolicy');

function podSpecs(objects: readonly K8sObject[]): Array<[string, Any]> {
  const specs: Array<[string, Any]> = [];
  for (const o of objects) {
    if (o.kind === 'Pod') specs.push([`Pod ${o.metadata.name}`, o.spec]);
    if (o.kind === 'Deployment') specs.push([`Deployment ${o.metadata.name}`, o.spec.template.spec]);
  }
  return specs;
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('every rendered object', () => {
  it.each(CASE_NAMES)('%s: Helm 4 and Helm 3 render the same objects', (name) => {
    expect(rendered.get(key(3, name))).toEqual(rendered.get(key(4, name)));
  });

  it.each(CASE_NAMES)('%s: passes strict Kubernetes schema validation', (name) => {
    const objects = objectsOf(name);
    expect(objects.length).toBeGreaterThanOrEqual(4);
    const problems = objects.flatMap((o) => validateObject(o).map((p) => `${o.kind}/${o.metadata?.name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it.each(CASE_NAMES)('%s: no two objects share kind and name; all sit in the release namespace', (name) => {
    const ids = objectsOf(name).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    for (const o of objectsOf(name)) expect(o.metadata.namespace).toBe('tokenplace');
  });

  it.each(CASE_NAMES)('%s: every pod spec meets the restricted Pod Security Standard', (name) => {
    const specs = podSpecs(objectsOf(name));
    expect(specs.map(([label]) => label.split(' ')[0]).sort()).toEqual(['Deployment', 'Pod']);
    for (const [label, spec] of specs) {
      expect(restrictedViolations(spec), label).toEqual([]);
      expect(spec.automountServiceAccountToken, label).toBe(false);
      for (const container of spec.containers) {
        const sc = container.securityContext;
        expect(sc.readOnlyRootFilesystem, label).toBe(true);
        expect(sc.runAsNonRoot, label).toBe(true);
        expect(sc.capabilities).toEqual({ drop: ['ALL'] });
        expect(sc.seccompProfile).toEqual({ type: 'RuntimeDefault' });
        expect(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, label).toBe(true);
        expect(Number.isInteger(sc.runAsGroup) && sc.runAsGroup > 0, label).toBe(true);
        // The only writable place is an emptyDir at /tmp.
        const tmp = container.volumeMounts.find((m: Any) => m.mountPath === '/tmp');
        expect(spec.volumes.find((v: Any) => v.name === tmp.name).emptyDir, label).toBeDefined();
      }
    }
  });

  it.each(CASE_NAMES)('%s: terminationGracePeriodSeconds exceeds the drain + shutdown the relay is given', (name) => {
    const spec = deployment(name).spec.template.spec;
    const env = envOf(relayContainer(name));
    const budget = Number(env.TOKENPLACE_RELAY_DRAIN_SECONDS.value) + Number(env.TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS.value);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(budget);
  });
});

describe('the restricted-profile checker is not vacuous', () => {
  it('reports each violation of a privileged pod', () => {
    const problems = restrictedViolations({
      hostNetwork: true,
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
      containers: [
        {
          name: 'bad',
          ports: [{ containerPort: 80, hostPort: 80 }],
          securityContext: { privileged: true, runAsUser: 0, capabilities: { add: ['SYS_ADMIN'] } },
        },
      ],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'hostNetwork is true',
        'volume root uses hostPath',
        'container bad: privileged',
        'container bad: hostPort 80',
        'container bad: allowPrivilegeEscalation is not false',
        'container bad: runAsNonRoot is not true (pod or container)',
        'container bad: runAsUser is 0',
        'container bad: seccompProfile is unset',
        'container bad: capabilities.drop lacks ALL',
        'container bad: adds capability SYS_ADMIN',
      ]),
    );
  });
});

describe('Deployment', () => {
  it('passes the relay its port, upstream, timeouts and token from the default Secret', () => {
    const container = relayContainer('httpUpstream');
    expect(container.ports).toEqual([
      { name: 'http', containerPort: 5010, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
    const env = envOf(container);
    expect(env.RELAY_PORT.value).toBe('5010');
    expect(env.TOKENPLACE_RELAY_METRICS_PORT.value).toBe('9090');
    expect(env.TOKENPLACE_RELAY_UPSTREAM_URL.value).toBe('http://gpu-server:8000');
    expect(env.TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS.value).toBe('5000');
    expect(env.TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS.value).toBe('120000');
    expect(env.TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS.value).toBe('60000');
    expect(env.TOKENPLACE_RELAY_DRAIN_SECONDS.value).toBe('5');
    expect(env.TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS.value).toBe('20');
    expect(env.TOKENPLACE_RELAY_MAX_BODY_BYTES.value).toBe('10485760');
    expect(env.TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS.value).toBe('true');
    expect(env.TOKENPLACE_RELAY_LOG_LEVEL.value).toBe('info');
    expect(env.TOKENPLACE_RELAY_MAX_CONNECTIONS).toBeUndefined();
    expect(env.TOKEN_PLACE_RELAY_SERVER_TOKEN).toEqual({
      name: 'TOKEN_PLACE_RELAY_SERVER_TOKEN',
      valueFrom: { secretKeyRef: { name: 'tokenplace-relay-secrets', key: 'TOKEN_PLACE_RELAY_SERVER_TOKEN', optional: false } },
    });
    for (const e of container.env) expect(typeof (e.value ?? ''), e.name).toBe('string');
  });

  it('container port, RELAY_PORT and the upstream follow env.port and gpuExternalName', () => {
    const container = relayContainer('customPorts');
    expect(container.ports[0]).toMatchObject({ name: 'http', containerPort: 6000 });
    expect(envOf(container).RELAY_PORT.value).toBe('6000');
    expect(envOf(container).TOKENPLACE_RELAY_UPSTREAM_URL.value).toBe('http://gpu-box:9000');
  });

  it('env.upstream.url overrides the upstream', () => {
    expect(envOf(relayContainer('upstreamUrl')).TOKENPLACE_RELAY_UPSTREAM_URL.value).toBe('https://gpu.example.net:8443/base');
  });

  it('passes the connection cap, extra env and envFrom when set', () => {
    const container = relayContainer('everything');
    const env = envOf(container);
    expect(env.TOKENPLACE_RELAY_MAX_CONNECTIONS.value).toBe('4096');
    expect(env.CLOUD_REGION.value).toBe('eu-west-1');
    expect(env.CLOUD_KEY.valueFrom).toEqual({ secretKeyRef: { name: 'cloud-credentials', key: 'key' } });
    expect(container.envFrom).toEqual([
      { secretRef: { name: 'cloud-credentials' } },
      { configMapRef: { name: 'cloud-settings' }, prefix: 'CLOUD_' },
    ]);
  });

  it('probes point at the named port: readiness /healthz, liveness and startup /livez', () => {
    for (const name of ['httpUpstream', 'customPorts'] as const) {
      const container = relayContainer(name);
      expect(container.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
      expect(container.startupProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
    }
    expect(relayContainer('httpUpstream').startupProbe).toMatchObject({ periodSeconds: 2, failureThreshold: 30 });
  });

  it('rolls out without ever dropping below the desired ready count', () => {
    expect(deployment('httpUpstream').spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
  });

  it('image: tag defaults to appVersion, an explicit tag is used, a digest wins over the tag', async () => {
    const chart = await readFile(join(CHART_DIR, 'Chart.yaml'), 'utf8');
    const appVersion = /^appVersion:\s*"?([^"\n]+)"?$/m.exec(chart)?.[1];
    expect(relayContainer('httpUpstream').image).toBe(`ghcr.io/tokenplace/tokenplace-relay:${appVersion}`);
    expect(relayContainer('everything').image).toBe('ghcr.io/tokenplace/tokenplace-relay:1.2.3');
    expect(relayContainer('digest').image).toBe(`ghcr.io/tokenplace/tokenplace-relay@${DIGEST}`);
    expect(testPod('digest').spec.containers[0].image).toBe(`ghcr.io/tokenplace/tokenplace-relay@${DIGEST}`);
  });

  it('selects exactly its own pods', () => {
    const d = deployment('httpUpstream');
    expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
    expect(matches(d.spec.selector.matchLabels, testPod('httpUpstream').metadata.labels)).toBe(false);
  });

  it('has no replicas field under an autoscaler, and replicaCount otherwise', () => {
    expect(deployment('everything').spec.replicas).toBeUndefined();
    expect(deployment('httpUpstream').spec.replicas).toBe(1);
    expect(deployment('twoReplicasPdb').spec.replicas).toBe(2);
  });

  it('puts pod annotations, labels, node selector, tolerations and pull secrets on the pods', () => {
    const d = deployment('everything');
    const spec = d.spec.template.spec;
    expect(d.spec.template.metadata.annotations).toEqual({ 'example.org/team': 'gpu' });
    expect(d.spec.template.metadata.labels['example.org/tier']).toBe('edge');
    expect(d.metadata.labels['example.org/owner']).toBe('family');
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/arch': 'arm64' });
    expect(spec.tolerations).toEqual([{ key: 'pi', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(spec.priorityClassName).toBe('relay-critical');
    expect(spec.imagePullSecrets).toEqual([{ name: 'ghcr-pull' }]);
  });

  it('sizes resources as values.yaml says, and the personal and family instances differently', () => {
    expect(relayContainer('httpUpstream').resources).toEqual({
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { cpu: '500m', memory: '256Mi' },
    });
    expect(relayContainer('personal').resources).not.toEqual(relayContainer('family').resources);
  });
});

describe('Service', () => {
  it('is a ClusterIP on port 80 to the named container port', () => {
    const service = findOne(objectsOf('httpUpstream'), 'Service', 'relay-tokenplace-relay');
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(matches(service.spec.selector, deployment('httpUpstream').spec.template.metadata.labels)).toBe(true);
    expect(matches(service.spec.selector, testPod('httpUpstream').metadata.labels)).toBe(false);
  });

  it('can be a LoadBalancer with annotations, source ranges and a traffic policy', () => {
    const service = findOne(objectsOf('loadBalancer'), 'Service', 'relay-tokenplace-relay');
    expect(service.spec).toMatchObject({
      type: 'LoadBalancer',
      loadBalancerSourceRanges: ['192.168.1.0/24'],
      externalTrafficPolicy: 'Local',
      ports: [{ name: 'http', port: 8081, targetPort: 'http', protocol: 'TCP' }],
    });
    expect(service.metadata.annotations).toEqual({ 'metallb.universe.tf/address-pool': 'home' });
  });
});

describe('GPU host Service', () => {
  it('is an ExternalName Service named gpu-server by default, with no endpoints of its own', () => {
    const gpu = findOne(objectsOf('httpUpstream'), 'Service', 'gpu-server');
    expect(gpu.spec).toEqual({
      type: 'ExternalName',
      externalName: 'gpu.home.arpa',
      ports: [{ name: 'http', port: 8000, targetPort: 8000, protocol: 'TCP' }],
    });
    expect(findAll(objectsOf('httpUpstream'), 'EndpointSlice')).toEqual([]);
  });

  it('in headless mode is a selector-less headless Service with EndpointSlices pinning the IPs', () => {
    const objects = objectsOf('headless');
    const gpu = findOne(objects, 'Service', 'gpu-server');
    expect(gpu.spec.clusterIP).toBe('None');
    expect(gpu.spec.type).toBeUndefined();
    expect(gpu.spec.externalName).toBeUndefined();
    expect(gpu.spec.selector).toBeUndefined();
    const slices = findAll(objects, 'EndpointSlice');
    expect(slices.map((s) => [s.addressType, s.endpoints.flatMap((e: Any) => e.addresses)])).toEqual([
      ['IPv4', ['192.168.1.50']],
      ['IPv6', ['fd00::50']],
    ]);
    for (const slice of slices) {
      expect(slice.metadata.labels['kubernetes.io/service-name']).toBe('gpu-server');
      expect(slice.metadata.labels['endpointslice.kubernetes.io/managed-by']).not.toBe('endpointslice-controller.k8s.io');
      expect(slice.ports).toEqual([{ name: 'http', port: 8000, protocol: 'TCP' }]);
    }
  });

  it('takes its name from values, and the upstream URL follows it', () => {
    expect(findOne(objectsOf('customPorts'), 'Service', 'gpu-box').spec.ports[0].port).toBe(9000);
    expect(findOne(objectsOf('personal'), 'Service', 'gpu-server-personal').spec.externalName).toBe('gpu-personal.home.arpa');
    expect(envOf(relayContainer('personal')).TOKENPLACE_RELAY_UPSTREAM_URL.value).toBe('http://gpu-server-personal:8000');
  });
});

describe('NetworkPolicy', () => {
  const containerPort = (name: CaseName) => relayContainer(name).ports[0].containerPort;

  it('selects the relay pods and restricts both directions', () => {
    const policy = networkPolicy('httpUpstream');
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(matches(policy.spec.podSelector.matchLabels, deployment('httpUpstream').spec.template.metadata.labels)).toBe(true);
  });

  it.each(['httpUpstream', 'everything', 'customPorts', 'loadBalancer', 'personal', 'family'] as const)(
    '%s: every ingress rule is on the container port, never the Service port',
    (name) => {
      const policy = networkPolicy(name);
      const service = findOne(objectsOf(name), 'Service', deployment(name).metadata.name);
      expect(service.spec.ports[0].port).not.toBe(containerPort(name));
      const [http, metrics] = relayContainer(name).ports.map((port: Any) => port.containerPort);
      for (const rule of policy.spec.ingress) {
        // Prometheus reaches the metrics port only; everyone else the relay's port only.
        const prometheus = rule.from[0]?.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring';
        expect(rule.ports).toEqual([{ port: prometheus ? metrics : http, protocol: 'TCP' }]);
      }
    },
  );

  it('lets in only Traefik pods from the Traefik namespace, and the release test pod', () => {
    const [traefik, test, ...rest] = networkPolicy('httpUpstream').spec.ingress;
    expect(rest).toEqual([]);
    expect(traefik.from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'traefik' } },
      },
    ]);
    expect(matches(test.from[0].podSelector.matchLabels, testPod('httpUpstream').metadata.labels)).toBe(true);
    expect(test.from[0].namespaceSelector).toBeUndefined();
  });

  it('adds Prometheus when the ServiceMonitor is on, and extra rules from values', () => {
    const everything = networkPolicy('everything').spec.ingress;
    expect(everything[1].from[0].namespaceSelector.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'monitoring' });
    const family = networkPolicy('family').spec.ingress;
    expect(family.at(-1)).toEqual({ from: [{ ipBlock: { cidr: '192.168.1.0/24' } }], ports: [{ port: 5010, protocol: 'TCP' }] });
  });

  it('allows egress to exactly cluster DNS and the GPU CIDRs on the GPU port', () => {
    expect(networkPolicy('httpUpstream').spec.egress).toEqual([
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
            podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
          },
        ],
        ports: [
          { port: 53, protocol: 'UDP' },
          { port: 53, protocol: 'TCP' },
        ],
      },
      { to: [{ ipBlock: { cidr: '192.168.1.50/32' } }], ports: [{ port: 8000, protocol: 'TCP' }] },
    ]);
  });

  it('in headless mode allows the pinned IPs; with an upstream URL, its port', () => {
    expect(networkPolicy('headless').spec.egress[1]).toEqual({
      to: [{ ipBlock: { cidr: '192.168.1.50/32' } }, { ipBlock: { cidr: 'fd00::50/128' } }],
      ports: [{ port: 8000, protocol: 'TCP' }],
    });
    expect(networkPolicy('customPorts').spec.egress[1].ports).toEqual([{ port: 9000, protocol: 'TCP' }]);
    expect(networkPolicy('upstreamUrl').spec.egress[1].ports).toEqual([{ port: 8443, protocol: 'TCP' }]);
  });

  it('is absent when disabled', () => {
    expect(findAll(objectsOf('networkPolicyOff'), 'NetworkPolicy')).toEqual([]);
  });

  it('admits no test pod when the helm test is off', async () => {
    const objects = await renderObjects(await findHelm(4), { values: [HTTP_UPSTREAM_VALUES, { tests: { enabled: false } }] });
    expect(findAll(objects, 'Pod')).toEqual([]);
    const ingress = findOne(objects, 'NetworkPolicy').spec.ingress;
    expect(ingress).toHaveLength(1);
    expect(ingress[0].from[0].namespaceSelector).toBeDefined();
  });
});

describe('Ingress', () => {
  it('is off by default', () => {
    expect(findAll(objectsOf('httpUpstream'), 'Ingress')).toEqual([]);
  });

  it('takes class, hosts, TLS and the cert-manager issuer from values', () => {
    const ingress = findOne(objectsOf('everything'), 'Ingress');
    expect(ingress.spec.ingressClassName).toBe('traefik');
    expect(ingress.metadata.annotations).toEqual({
      'cert-manager.io/cluster-issuer': 'letsencrypt-production',
      'traefik.ingress.kubernetes.io/router.entrypoints': 'websecure',
    });
    expect(ingress.spec.tls).toEqual([{ secretName: 'relay-example-org-tls', hosts: ['relay.example.org'] }]);
    expect(ingress.spec.rules).toEqual([
      {
        host: 'relay.example.org',
        http: {
          paths: [
            { path: '/', pathType: 'Prefix', backend: { service: { name: 'relay-tokenplace-relay', port: { name: 'http' } } } },
          ],
        },
      },
    ]);
  });

  it('never reaches /metrics: its backends are the http port, where the relay serves no metrics', () => {
    for (const name of ['everything', 'otherHost', 'staging'] as const) {
      const ingress = findOne(objectsOf(name), 'Ingress');
      const env = envOf(relayContainer(name));
      const service = findOne(objectsOf(name), 'Service', ingress.spec.rules[0].http.paths[0].backend.service.name);
      const ports = ingress.spec.rules.flatMap((rule: Any) => rule.http.paths.map((path: Any) => path.backend.service.port));
      for (const port of ports) {
        expect(port, name).toEqual({ name: 'http' });
        const servicePort = service.spec.ports.find((p: Any) => p.name === port.name);
        const containerPort = relayContainer(name).ports.find((p: Any) => p.name === servicePort.targetPort).containerPort;
        expect(String(containerPort)).toBe(env.RELAY_PORT.value);
        // The relay serves /metrics only on TOKENPLACE_RELAY_METRICS_PORT and answers 404 for it on RELAY_PORT.
        expect(env.TOKENPLACE_RELAY_METRICS_PORT.value).not.toBe(env.RELAY_PORT.value);
      }
    }
  });

  it('with env.metricsPort null, /metrics is back on the relay port and the ServiceMonitor scrapes http', () => {
    const env = envOf(relayContainer('metricsOnRelayPort'));
    expect(env.TOKENPLACE_RELAY_METRICS_PORT).toBeUndefined();
    expect(relayContainer('metricsOnRelayPort').ports.map((p: Any) => p.name)).toEqual(['http']);
    expect(findAll(objectsOf('metricsOnRelayPort'), 'Service').map((s) => s.metadata.name)).not.toContain(
      'relay-tokenplace-relay-metrics',
    );
    const monitor = findOne(objectsOf('metricsOnRelayPort'), 'ServiceMonitor');
    expect(monitor.spec.endpoints[0].port).toBe('http');
    const service = findOne(objectsOf('metricsOnRelayPort'), 'Service', 'relay-tokenplace-relay');
    expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
    const rules = findOne(objectsOf('metricsOnRelayPort'), 'PrometheusRule').spec.groups.flatMap((g: Any) => g.rules);
    expect(rules[0].expr).toContain('up{job="relay-tokenplace-relay",');
  });

  it('hard-codes no host: another host replaces relay.example.org everywhere', () => {
    const text = JSON.stringify(objectsOf('otherHost'));
    expect(text).not.toContain('example.org');
    const ingress = findOne(objectsOf('otherHost'), 'Ingress');
    expect(ingress.spec.rules[0].host).toBe('relay.other.test');
    expect(ingress.spec.tls[0].hosts).toEqual(['relay.other.test']);
    expect(ingress.metadata.annotations).toBeUndefined();
  });

  it('the templates contain no host names of their own', async () => {
    const files = await readdir(join(CHART_DIR, 'templates'), { recursive: true });
    const sources = await Promise.all(
      files.filter((f) => /\.(yaml|tpl|txt)$/.test(f)).map((f) => readFile(join(CHART_DIR, 'templates', f), 'utf8')),
    );
    expect(sources.length).toBeGreaterThanOrEqual(10);
    for (const source of sources) expect(source).not.toMatch(/token\.place|example\.(org|com)|home\.arpa|staging\./);
  });

  it('the staging example uses its host, TLS Secret and issuer', () => {
    const ingress = findOne(objectsOf('staging'), 'Ingress');
    expect(ingress.spec.rules.map((r: Any) => r.host)).toEqual(['staging.token.place']);
    expect(ingress.spec.tls).toEqual([{ secretName: 'staging-token-place-tls', hosts: ['staging.token.place'] }]);
    expect(ingress.metadata.annotations['cert-manager.io/cluster-issuer']).toBe('letsencrypt-production');
    expect(relayContainer('staging').image).toBe('ghcr.io/tokenplace/tokenplace-relay:0.1.0');
    expect(envOf(relayContainer('staging')).TOKEN_PLACE_RELAY_SERVER_TOKEN.valueFrom.secretKeyRef).toEqual({
      name: 'tokenplace-relay-secrets',
      key: 'TOKEN_PLACE_RELAY_SERVER_TOKEN',
      optional: false,
    });
  });
});

describe('two releases in one namespace', () => {
  it('personal and family share no kind+name', () => {
    const ids = [...objectsOf('personal'), ...objectsOf('family')].map((o) => `${o.kind}/${o.metadata.name}`);
    expect(ids.length).toBeGreaterThanOrEqual(10);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('their LoadBalancers listen on different ports and select only their own pods', () => {
    const personal = findOne(objectsOf('personal'), 'Service', 'relay-personal-tokenplace-relay');
    const family = findOne(objectsOf('family'), 'Service', 'relay-family-tokenplace-relay');
    expect(personal.spec.type).toBe('LoadBalancer');
    expect(family.spec.type).toBe('LoadBalancer');
    expect(personal.spec.ports[0].port).not.toBe(family.spec.ports[0].port);
    expect(matches(personal.spec.selector, deployment('family').spec.template.metadata.labels)).toBe(false);
    expect(matches(family.spec.selector, deployment('personal').spec.template.metadata.labels)).toBe(false);
  });
});

describe('PodDisruptionBudget', () => {
  it.each(['httpUpstream', 'oneReplicaPdb', 'autoscaleToOnePdb'] as const)(
    '%s: absent when only one replica can exist',
    (name) => {
      expect(findAll(objectsOf(name), 'PodDisruptionBudget')).toEqual([]);
    },
  );

  it.each(['twoReplicasPdb', 'autoscaleFromOnePdb', 'everything', 'family'] as const)(
    '%s: present with maxUnavailable, so it never blocks a drain',
    (name) => {
      const pdb = findOne(objectsOf(name), 'PodDisruptionBudget');
      expect(pdb.spec.maxUnavailable).toBe(1);
      expect(pdb.spec.minAvailable).toBeUndefined();
      expect(pdb.spec.selector.matchLabels).toEqual(deployment(name).spec.selector.matchLabels);
    },
  );
});

describe('HorizontalPodAutoscaler', () => {
  it('scales the Deployment on CPU and memory', () => {
    const hpa = findOne(objectsOf('everything'), 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment('everything').metadata.name,
    });
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 5 });
    expect(hpa.spec.metrics.map((m: Any) => [m.resource.name, m.resource.target])).toEqual([
      ['cpu', { type: 'Utilization', averageUtilization: 70 }],
      ['memory', { type: 'Utilization', averageUtilization: 80 }],
    ]);
    expect(findAll(objectsOf('httpUpstream'), 'HorizontalPodAutoscaler')).toEqual([]);
  });
});

describe('ServiceAccount', () => {
  it('is used by the pods when created, and never mounts a token', () => {
    const sa = findOne(objectsOf('everything'), 'ServiceAccount');
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(sa.metadata.annotations).toEqual({ 'example.org/role': 'relay' });
    expect(deployment('everything').spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
    expect(findAll(objectsOf('httpUpstream'), 'ServiceAccount')).toEqual([]);
    expect(deployment('httpUpstream').spec.template.spec.serviceAccountName).toBe('default');
  });
});

describe('Secrets', () => {
  it('a chart-created Secret holds the token and the Deployment reads it from there', () => {
    const secret = findOne(objectsOf('everything'), 'Secret');
    expect(secret.metadata.name).toBe('relay-tokenplace-relay-secrets');
    expect(Buffer.from(secret.data.TOKEN_PLACE_RELAY_SERVER_TOKEN, 'base64').toString()).toBe(SERVER_TOKEN);
    expect(envOf(relayContainer('everything')).TOKEN_PLACE_RELAY_SERVER_TOKEN.valueFrom.secretKeyRef).toEqual({
      name: 'relay-tokenplace-relay-secrets',
      key: 'TOKEN_PLACE_RELAY_SERVER_TOKEN',
    });
    expect(findAll(objectsOf('httpUpstream'), 'Secret')).toEqual([]);
  });

  it('the token appears in no object but the Secret: not in ConfigMaps, annotations or env values', () => {
    const base64 = Buffer.from(SERVER_TOKEN).toString('base64');
    const others = objectsOf('everything').filter((o) => o.kind !== 'Secret');
    expect(others.length).toBeGreaterThan(5);
    for (const o of others) {
      const text = JSON.stringify(o);
      expect(text, `${o.kind}/${o.metadata.name}`).not.toContain(SERVER_TOKEN);
      expect(text, `${o.kind}/${o.metadata.name}`).not.toContain(base64);
    }
    const secret = findOne(objectsOf('everything'), 'Secret');
    expect(JSON.stringify(secret.metadata)).not.toContain(base64);
  });
});

describe('monitoring', () => {
  it('the ServiceMonitor scrapes /metrics on the named port of the relay Service only', () => {
    const monitor = findOne(objectsOf('everything'), 'ServiceMonitor');
    const service = findOne(objectsOf('everything'), 'Service', 'relay-tokenplace-relay');
    const gpu = findOne(objectsOf('everything'), 'Service', 'gpu-server');
    expect(monitor.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(matches(monitor.spec.selector.matchLabels, gpu.metadata.labels)).toBe(false);
    expect(monitor.spec.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s' },
    ]);
    // It selects the metrics Service, a ClusterIP of its own, and not the one the Ingress routes to.
    const metrics = findOne(objectsOf('everything'), 'Service', 'relay-tokenplace-relay-metrics');
    expect(matches(monitor.spec.selector.matchLabels, metrics.metadata.labels)).toBe(true);
    expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(false);
    expect(metrics.spec).toMatchObject({
      type: 'ClusterIP',
      ports: [{ name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' }],
    });
    expect(service.spec.ports.map((port: Any) => port.name)).toEqual(['http']);
  });

  it('the PrometheusRule alerts on relay down, 5xx ratio, open fds and rejections, in valid PromQL', () => {
    const rule = findOne(objectsOf('everything'), 'PrometheusRule');
    const rules = rule.spec.groups.flatMap((g: Any) => g.rules);
    expect(rules.map((r: Any) => r.alert)).toEqual([
      'TokenplaceRelayDown',
      'TokenplaceRelayHigh5xxRatio',
      'TokenplaceRelayFileDescriptorsHigh',
      'TokenplaceRelayRejectingRequests',
    ]);
    const exprs = Object.fromEntries(rules.map((r: Any) => [r.alert, r.expr]));
    // The job is the Service the ServiceMonitor scrapes (prometheus-operator's default): the metrics Service.
    expect(exprs.TokenplaceRelayDown).toContain('up{job="relay-tokenplace-relay-metrics",namespace="tokenplace"}');
    expect(exprs.TokenplaceRelayHigh5xxRatio).toMatch(/status=~"5\.\."/);
    expect(exprs.TokenplaceRelayHigh5xxRatio).toMatch(/> 0\.05$/);
    expect(exprs.TokenplaceRelayFileDescriptorsHigh).toMatch(/process_open_fds\{.*\} \/ process_max_fds\{.*\}\) > 0\.8$/);
    expect(exprs.TokenplaceRelayRejectingRequests).toContain('status=~"429|503"');
    for (const r of rules) {
      let errors = 0;
      promql.parse(r.expr).iterate({
        enter(node) {
          if (node.type.isError) errors++;
        },
      });
      expect(errors, `${r.alert}: ${r.expr}`).toBe(0);
      expect(r.labels.severity).toMatch(/^(critical|warning)$/);
      expect(r.annotations.summary).toBeTruthy();
    }
  });

  it('the PromQL check catches a broken expression', () => {
    let errors = 0;
    promql.parse('sum(rate(tokenplace_relay_requests_total[5m]) >').iterate({
      enter(node) {
        if (node.type.isError) errors++;
      },
    });
    expect(errors).toBeGreaterThan(0);
  });

  it('neither is rendered by default', () => {
    expect(findAll(objectsOf('httpUpstream'), 'ServiceMonitor')).toEqual([]);
    expect(findAll(objectsOf('httpUpstream'), 'PrometheusRule')).toEqual([]);
  });
});

describe('helm test pod', () => {
  it('is a test hook that calls /healthz and /livez through the Service and fails otherwise', () => {
    const pod = testPod('customPorts');
    expect(pod.metadata.annotations['helm.sh/hook']).toBe('test');
    expect(pod.spec.restartPolicy).toBe('Never');
    const [container] = pod.spec.containers;
    const env = envOf(container);
    expect(env.RELAY_URL.value).toBe('http://relay-tokenplace-relay.tokenplace.svc:8080');
    const script = container.command.at(-1) as string;
    expect(container.command.slice(0, 3)).toEqual(['/nodejs/bin/node', '--input-type=module', '-e']);
    expect(script).toContain("['/healthz', '/livez']");
    expect(script).toContain('process.exit(failed ? 1 : 0)');
    expect(script).toMatch(/res\.status !== 200\) failed = true/);
  });

  it("runs Node from the relay image by the path of the image's own entry point (distroless: no node on PATH)", async () => {
    const [node] = execEntrypoint(await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
    const [container] = testPod('httpUpstream').spec.containers;
    expect(container.image).toBe(relayContainer('httpUpstream').image);
    expect(container.command[0]).toBe(node);
  });

  it('takes another image and its Node.js executable from tests.image and tests.node', async () => {
    const objects = await renderObjects(await findHelm(4), {
      values: [
        HTTP_UPSTREAM_VALUES,
        { tests: { image: { repository: 'docker.io/library/node', tag: '24-bookworm-slim' }, node: 'node' } },
      ],
    });
    const [container] = findOne(objects, 'Pod').spec.containers;
    expect(container.image).toBe('docker.io/library/node:24-bookworm-slim');
    expect(container.command[0]).toBe('node');
  });
});

describe('admission control, registration, CORS and the metrics token', () => {
  it('passes the defaults: 4 per GPU host, a queue of 64 for 30 s, no allow list, no CORS, open metrics', () => {
    const env = envOf(relayContainer('httpUpstream'));
    expect(env.TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY.value).toBe('4');
    expect(env.TOKENPLACE_RELAY_QUEUE_LENGTH.value).toBe('64');
    expect(env.TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS.value).toBe('30000');
    expect(env.TOKENPLACE_RELAY_SERVER_LEASE_SECONDS.value).toBe('30');
    expect(env.TOKENPLACE_RELAY_CORS_CREDENTIALS.value).toBe('false');
    expect(env.TOKENPLACE_RELAY_ALLOWED_UPSTREAMS).toBeUndefined();
    expect(env.TOKENPLACE_RELAY_CORS_ORIGINS).toBeUndefined();
    expect(env.TOKENPLACE_METRICS_TOKEN).toBeUndefined();
  });

  it('passes the values as the relay reads them: lists comma-joined, the metrics token from its Secret', () => {
    const env = envOf(relayContainer('admission'));
    expect(env.TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY.value).toBe('2');
    expect(env.TOKENPLACE_RELAY_QUEUE_LENGTH.value).toBe('16');
    expect(env.TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS.value).toBe('15000');
    expect(env.TOKENPLACE_RELAY_ALLOWED_UPSTREAMS.value).toBe('192.168.1.0/24,10.0.0.7,fd00::/8,gpu.home.arpa,*.lan');
    expect(env.TOKENPLACE_RELAY_SERVER_LEASE_SECONDS.value).toBe('60');
    expect(env.TOKENPLACE_RELAY_CORS_ORIGINS.value).toBe('https://chat.example.org,http://localhost:5173');
    expect(env.TOKENPLACE_RELAY_CORS_CREDENTIALS.value).toBe('true');
    expect(env.TOKENPLACE_METRICS_TOKEN).toEqual({
      name: 'TOKENPLACE_METRICS_TOKEN',
      valueFrom: { secretKeyRef: { name: 'relay-metrics', key: 'token' } },
    });
  });

  it('opens egress to the CIDRs registered nodes may have (host names cannot be matched), on any port', () => {
    const egress = networkPolicy('admission').spec.egress;
    expect(egress).toHaveLength(3);
    expect(egress[2]).toEqual({
      to: [{ ipBlock: { cidr: '192.168.1.0/24' } }, { ipBlock: { cidr: '10.0.0.7/32' } }, { ipBlock: { cidr: 'fd00::/8' } }],
    });
    expect(networkPolicy('httpUpstream').spec.egress).toHaveLength(2);
  });

  it('makes the ServiceMonitor send the metrics token', () => {
    const [endpoint] = findOne(objectsOf('admission'), 'ServiceMonitor').spec.endpoints;
    expect(endpoint.authorization).toEqual({ type: 'Bearer', credentials: { name: 'relay-metrics', key: 'token' } });
    expect(findOne(objectsOf('everything'), 'ServiceMonitor').spec.endpoints[0].authorization).toBeUndefined();
  });
});
