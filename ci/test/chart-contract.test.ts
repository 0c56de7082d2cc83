/**
 * The pipeline against the chart, with real helm: the values the e2e install passes (taken from the
 * install-chart step script itself, as its shell expands them) must pass the chart's schema, and every
 * object, name, label and port the cluster checks rely on must be in what the chart renders.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { findHelm, type HelmBinary, type HelmMajor, REPO_ROOT, runHelm } from '../../chart/tests/helm-binary.ts';
import { restrictedViolations } from '../../chart/tests/pod-security.ts';
import {
  CHART_DIR,
  findAll,
  findOne,
  HTTP_UPSTREAM_VALUES,
  type K8sObject,
  parseManifests,
  renderObjects,
} from '../../chart/tests/render.ts';
import { CHART_NAME, LINT_SET_ARGS, relayFullname, VALUE_KEYS } from '../src/chart-values.ts';
import { CLUSTER_STEPS, stepScript } from '../src/cluster/checks.ts';
import { namespaces } from '../src/cluster/manifests.ts';
import { defaultScenario, fullname, relayServiceHost, type Scenario, standinHost } from '../src/cluster/scenario.ts';
import { HELPERS } from '../src/cluster/shell.ts';
import { IMAGES } from '../src/images.ts';
import { execEntrypoint } from './dockerfile.ts';

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests.
type Any = any;
type Labels = Record<string, string>;

/** The Kubernetes version of the e2e cluster (k3s; the kind node image is the same minor). */
const CLUSTER_VERSION = /\/k3s:v(\d+\.\d+\.\d+)/.exec(IMAGES.k3s)?.[1] ?? 'unknown';
const STANDIN_IP = '10.42.0.20';
const FORBIDDEN_IP = '10.42.0.30';

/** The scenarios the two entry points build: Dagger's e2e (in-pipeline registry) and the kind script. */
const SCENARIOS: Record<'k3s' | 'kind', Scenario> = {
  k3s: defaultScenario({
    chartPath: CHART_DIR,
    examplesPath: 'docs/examples',
    relayImage: { repository: 'registry:5000/tokenplace-relay', tag: 'e2e-abc123', pullPolicy: 'IfNotPresent' },
    standinImage: 'registry:5000/gpu-standin:e2e-abc123',
    probeImage: IMAGES.busybox,
    runId: 'abc123',
  }),
  kind: defaultScenario({
    chartPath: CHART_DIR,
    examplesPath: 'docs/examples',
    relayImage: { repository: 'tokenplace-relay', tag: 'kind-abc123', pullPolicy: 'IfNotPresent' },
    standinImage: 'gpu-standin:kind-abc123',
    probeImage: IMAGES.busybox,
    runId: 'abc123',
  }),
};

const installStep = CLUSTER_STEPS.find((s) => s.id === 'install-chart');
if (!installStep) throw new Error('no install-chart step');

const fakes = mkdtempSync(join(tmpdir(), 'chart-contract-'));
afterAll(() => rmSync(fakes, { recursive: true, force: true }));
const tool = (name: string, body: string) => {
  writeFileSync(join(fakes, name), `#!/bin/sh\n${body}`);
  chmodSync(join(fakes, name), 0o755);
};
// kubectl: only pod_ip is asked, for the stand-in's pod IP. helm: records its arguments, NUL-separated.
tool('kubectl', `printf '${STANDIN_IP}'\n`);
tool('helm', `for arg; do printf '%s\\0' "$arg"; done > "$FAKE_DIR/helm-args"\necho "STATUS: deployed"\n`);

/** The arguments the install-chart step gives `helm upgrade --install`, after its shell has expanded them. */
function installArgs(s: Scenario): string[] {
  const result = spawnSync('dash', ['-c', stepScript(installStep as (typeof CLUSTER_STEPS)[number], s)], {
    encoding: 'utf8',
    env: { PATH: `${fakes}:${process.env.PATH}`, FAKE_DIR: fakes },
  });
  if (result.status !== 0) throw new Error(`install-chart script failed: ${result.stdout}${result.stderr}`);
  const verdict = (installStep as (typeof CLUSTER_STEPS)[number]).judge(
    { exitCode: result.status ?? -1, stdout: result.stdout, stderr: result.stderr },
    s,
  );
  if (!verdict.ok) throw new Error(verdict.detail);
  return readFileSync(join(fakes, 'helm-args'), 'utf8').split('\0').slice(0, -1);
}

/** `upgrade --install R CHART --namespace NS --wait --timeout T <values>` → `template R CHART --namespace NS <values>`. */
function asTemplate(args: string[]): string[] {
  expect(args.slice(0, 2)).toEqual(['upgrade', '--install']);
  const out = ['template'];
  for (let i = 2; i < args.length; i++) {
    if (args[i] === '--wait') continue;
    if (args[i] === '--timeout') {
      i++;
      continue;
    }
    out.push(args[i]);
  }
  return [...out, '--kube-version', CLUSTER_VERSION];
}

function selectorMatches(selector: Any, labels: Labels): boolean {
  if (selector.matchExpressions?.length) throw new Error('matchExpressions: not modelled in this test');
  return Object.entries((selector.matchLabels ?? {}) as Labels).every(([k, v]) => labels[k] === v);
}

interface PodRef {
  namespace: string;
  namespaceLabels: Labels;
  labels: Labels;
}

/** Whether a NetworkPolicy's ingress rules admit a pod on a port (named or numbered) of the selected pods. */
function admitsIngress(policy: K8sObject, from: PodRef, port: { number: number; name: string }): boolean {
  return (policy.spec.ingress ?? []).some((rule: Any) => {
    const portOk =
      rule.ports === undefined ||
      rule.ports.some((p: Any) => p.port === undefined || p.port === port.number || p.port === port.name);
    const peerOk =
      rule.from === undefined ||
      rule.from.some((peer: Any) => {
        if (peer.ipBlock) return false;
        const nsOk = peer.namespaceSelector
          ? selectorMatches(peer.namespaceSelector, from.namespaceLabels)
          : from.namespace === policy.metadata.namespace;
        return nsOk && (peer.podSelector ? selectorMatches(peer.podSelector, from.labels) : true);
      });
    return portOk && peerOk;
  });
}

function ipv4(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  if (base.includes(':') || ip.includes(':')) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
}

function admitsEgressToIp(policy: K8sObject, ip: string, port: number): boolean {
  return (policy.spec.egress ?? []).some(
    (rule: Any) =>
      (rule.ports ?? []).some((p: Any) => p.port === port) &&
      (rule.to ?? []).some((peer: Any) => peer.ipBlock && inCidr(ip, peer.ipBlock.cidr)),
  );
}

/** Labels of a namespace the `namespaces` step creates (the API server adds kubernetes.io/metadata.name). */
function namespaceLabels(s: Scenario, name: string): Labels {
  const ns = namespaces(s).find((n: Any) => n.metadata.name === name) as Any;
  if (!ns) throw new Error(`the namespaces step creates no namespace ${name}`);
  return { ...ns.metadata.labels, 'kubernetes.io/metadata.name': name };
}

/** The labels `start_pod` (kubectl run --labels=...) gives every probe, client and load pod. */
function probePodLabels(): Labels {
  const arg = /kubectl -n "\$1" run [^\n]*\n?[^\n]*--labels=(\S+)/.exec(HELPERS)?.[1];
  if (!arg) throw new Error('start_pod passes no --labels');
  return Object.fromEntries(arg.split(',').map((pair) => pair.split('=') as [string, string]));
}

const rendered = new Map<string, K8sObject[]>();
const helms = new Map<HelmMajor, HelmBinary>();

beforeAll(async () => {
  for (const major of [4, 3] as const) helms.set(major, await findHelm(major));
  for (const [name, s] of Object.entries(SCENARIOS)) {
    const args = asTemplate(installArgs(s));
    for (const [major, helm] of helms) {
      const result = await runHelm(helm, args);
      if (result.code !== 0) throw new Error(`${name}: helm ${helm.version} rejected the e2e values:\n${result.stderr}`);
      rendered.set(`${name}:${major}`, parseManifests(result.stdout));
    }
  }
}, 120_000);

describe('the e2e install values', () => {
  it('name only keys that exist in values.yaml, with the type of their default', () => {
    const values = parseYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Any;
    const kind = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
    for (const path of Object.values(VALUE_KEYS)) {
      let node = values;
      for (const part of path.split('.')) {
        expect(node !== null && typeof node === 'object' && part in node, `${path}: no "${part}" in values.yaml`).toBe(true);
        node = node[part];
      }
    }
    const pairs = installArgs(SCENARIOS.k3s);
    const setJson = pairs.flatMap((arg, i) => (pairs[i - 1] === '--set-json' ? [arg] : []));
    expect(setJson.length).toBeGreaterThan(10);
    for (const pair of setJson) {
      const [path, json] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      let node = values;
      for (const part of path.split('.')) node = node?.[part];
      expect(node, `${path} is not in values.yaml`).not.toBeUndefined();
      expect(kind(JSON.parse(json)), `${path}: type of the value the pipeline passes`).toBe(kind(node));
    }
  });

  it('render identically under Helm 4 and Helm 3', () => {
    for (const name of Object.keys(SCENARIOS)) expect(rendered.get(`${name}:3`)).toEqual(rendered.get(`${name}:4`));
  });

  it("name objects as the chart's fullname helper does (CHART_NAME is Chart.yaml's name)", async () => {
    expect(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')).toMatch(new RegExp(`^name: ${CHART_NAME}$`, 'm'));
    for (const release of ['tokenplace-relay', 'relay', 'tokenplace-relay-family']) {
      const objects = await renderObjects(helms.get(4) as HelmBinary, { release, values: [HTTP_UPSTREAM_VALUES] });
      expect(findOne(objects, 'Deployment').metadata.name, release).toBe(relayFullname(release));
      expect(findOne(objects, 'Service', relayFullname(release)).spec.type).toBe('ClusterIP');
    }
  });

  it('let helm lint --strict pass with the values the chart function lints with', async () => {
    const result = await runHelm(helms.get(4) as HelmBinary, ['lint', '--strict', CHART_DIR, ...LINT_SET_ARGS]);
    expect(result.stderr + result.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(result.code).toBe(0);
  });
});

describe.each(Object.keys(SCENARIOS) as (keyof typeof SCENARIOS)[])(
  '%s: what the cluster checks refer to is rendered',
  (name) => {
    const s = SCENARIOS[name];
    const objects = () => rendered.get(`${name}:4`) as K8sObject[];
    const deployment = () => findOne(objects(), 'Deployment', fullname(s));
    const podLabels = () => deployment().spec.template.metadata.labels as Labels;
    const relay = () => deployment().spec.template.spec.containers.find((c: Any) => c.name === 'relay');
    const policy = () => findOne(objects(), 'NetworkPolicy', fullname(s));
    const probe = (namespace: string): PodRef => ({
      namespace,
      namespaceLabels: namespaceLabels(s, namespace),
      labels: probePodLabels(),
    });
    const httpPort = () => ({ number: s.relayPort, name: 'http' });

    it('puts every object in the release namespace', () => {
      for (const o of objects()) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(s.namespace);
    });

    it('Deployment $FULLNAME: the built image, the replicas, port http = relayPort, probes /healthz and /livez', () => {
      const d = deployment();
      expect(d.spec.replicas).toBe(s.replicas);
      expect(selectorMatches(d.spec.selector, podLabels())).toBe(true);
      const c = relay();
      expect(c.image).toBe(`${s.relayImage.repository}:${s.relayImage.tag}`);
      expect(c.imagePullPolicy).toBe(s.relayImage.pullPolicy);
      expect(c.ports[0]).toEqual({ name: 'http', containerPort: s.relayPort, protocol: 'TCP' });
      // The second port, /metrics apart from what the Ingress routes, is for Prometheus only.
      expect(c.ports.slice(1).map((p: Any) => p.name)).toEqual(['metrics']);
      expect(c.readinessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
      expect(c.livenessProbe.httpGet).toMatchObject({ path: '/livez', port: 'http' });
      const env = Object.fromEntries(c.env.map((e: Any) => [e.name, e.value]));
      expect(env.RELAY_PORT).toBe(String(s.relayPort));
      expect(env.TOKENPLACE_RELAY_UPSTREAM_URL).toBe(`http://${s.gpuServiceName}:${s.gpuPort}`);
    });

    it('Service $RELAY_HOST: port 80 (the checks call it without a port) to the named container port, selecting the relay pods', () => {
      expect(relayServiceHost(s)).toBe(`${fullname(s)}.${s.namespace}.svc.cluster.local`);
      const service = findOne(objects(), 'Service', fullname(s));
      expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
      expect(selectorMatches({ matchLabels: service.spec.selector }, podLabels())).toBe(true);
    });

    it('Service $GPU_SERVICE: an ExternalName to the stand-in on the GPU port', () => {
      const gpu = findOne(objects(), 'Service', s.gpuServiceName);
      expect(gpu.spec).toMatchObject({ type: 'ExternalName', externalName: standinHost(s) });
      expect(gpu.spec.ports.map((p: Any) => p.port)).toEqual([s.gpuPort]);
    });

    it('NetworkPolicy: selects the relay pods; admits a probe pod in the ingress namespace on the container port', () => {
      expect(selectorMatches(policy().spec.podSelector, podLabels())).toBe(true);
      expect(admitsIngress(policy(), probe(s.ingressNamespace), httpPort())).toBe(true);
      expect(admitsIngress(policy(), probe(s.ingressNamespace), { number: 80, name: '' })).toBe(false);
    });

    it('NetworkPolicy: keeps out the same probe pod in the outsider namespace, and in the GPU namespace', () => {
      expect(admitsIngress(policy(), probe(s.outsiderNamespace), httpPort())).toBe(false);
      expect(admitsIngress(policy(), probe(s.gpuNamespace), httpPort())).toBe(false);
    });

    it("NetworkPolicy: admits the chart's own helm test pod, which the outsider's labels do not imitate", () => {
      const pod = findOne(objects(), 'Pod');
      const testPod = { namespace: s.namespace, namespaceLabels: namespaceLabels(s, s.namespace), labels: pod.metadata.labels };
      expect(admitsIngress(policy(), testPod, httpPort())).toBe(true);
      // Even in the release namespace, a pod with the probe labels is not let in by the test pod's rule.
      expect(admitsIngress(policy(), { ...testPod, labels: probePodLabels() }, httpPort())).toBe(false);
    });

    it('NetworkPolicy: egress reaches the stand-in pod IP on the GPU port, not the forbidden one, and cluster DNS', () => {
      expect(admitsEgressToIp(policy(), STANDIN_IP, s.gpuPort)).toBe(true);
      expect(admitsEgressToIp(policy(), FORBIDDEN_IP, s.gpuPort)).toBe(false);
      const dns = policy().spec.egress.find((rule: Any) => rule.ports.some((p: Any) => p.port === 53 && p.protocol === 'UDP'));
      const [peer] = dns.to;
      expect(selectorMatches(peer.namespaceSelector, { 'kubernetes.io/metadata.name': 'kube-system' })).toBe(true);
      // CoreDNS in k3s and kind carries k8s-app=kube-dns.
      expect(selectorMatches(peer.podSelector, { 'k8s-app': 'kube-dns' })).toBe(true);
    });

    it('helm test pod: calls the Service on port 80 with the relay image, by the path of its Node', () => {
      const pod = findOne(objects(), 'Pod');
      expect(pod.metadata.name).toBe(`${fullname(s)}-test`);
      expect(pod.metadata.annotations['helm.sh/hook']).toBe('test');
      const [c] = pod.spec.containers;
      expect(c.image).toBe(relay().image);
      expect(c.env).toEqual([
        { name: 'RELAY_URL', value: `http://${fullname(s)}.${s.namespace}.svc:80` },
        // A refused connection is retried: the NetworkPolicy may not admit the new test pod's address yet.
        { name: 'RETRY_SECONDS', value: '30' },
      ]);
      const entrypoint = execEntrypoint(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
      expect(c.command[0]).toBe(entrypoint[0]);
    });

    it('passes the restricted Pod Security Standard the relay namespace enforces', () => {
      expect(namespaceLabels(s, s.namespace)['pod-security.kubernetes.io/enforce']).toBe('restricted');
      expect(restrictedViolations(deployment().spec.template.spec)).toEqual([]);
      expect(restrictedViolations(findOne(objects(), 'Pod').spec)).toEqual([]);
    });

    it('renders no Ingress and no ServiceMonitor (the checks use neither)', () => {
      expect(findAll(objects(), 'Ingress')).toEqual([]);
      expect(findAll(objects(), 'ServiceMonitor')).toEqual([]);
    });
  },
);
