import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../chart/tests/helm-binary.ts';
import { CLUSTER_STEPS, type ClusterStep, stepScript } from '../src/cluster/checks.ts';
import { gpuStandins, namespaces } from '../src/cluster/manifests.ts';
import { clusterSteps } from '../src/cluster/outside.ts';
import { defaultScenario, OUTSIDE_GPU, validateScenario } from '../src/cluster/scenario.ts';
import { shQuote } from '../src/cluster/shell.ts';

const scenario = defaultScenario({
  chartPath: '/src/chart',
  examplesPath: '/src/examples',
  relayImage: { repository: 'registry:5000/tokenplace-relay', tag: 'e2e-abc', pullPolicy: 'IfNotPresent' },
  standinImage: 'registry:5000/gpu-standin:e2e-abc',
  probeImage: 'docker.io/library/busybox:1.37.0',
  runId: 'abc123',
});

const outsideScenario = { ...scenario, outsideGpu: { ...OUTSIDE_GPU } };

const step = (id: string): ClusterStep => {
  const found = CLUSTER_STEPS.find((s) => s.id === id);
  if (!found) throw new Error(`no step ${id}`);
  return found;
};

describe('step scripts', () => {
  it('are syntactically valid POSIX sh (dash -n)', () => {
    for (const s of CLUSTER_STEPS) {
      const result = spawnSync('dash', ['-n'], { input: stepScript(s, scenario), encoding: 'utf8' });
      expect(result.stderr, s.id).toBe('');
      expect(result.status, s.id).toBe(0);
    }
  });

  it('run setup first, in a fixed order, with unique ids', () => {
    const ids = CLUSTER_STEPS.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    const firstCheck = CLUSTER_STEPS.findIndex((s) => s.kind === 'check');
    expect(CLUSTER_STEPS.slice(firstCheck).every((s) => s.kind === 'check')).toBe(true);
    expect(ids).toEqual([
      'cluster-ready',
      'namespaces',
      'gpu-standin',
      'install-chart',
      'deployment-ready',
      'request-through-service',
      'gpu-server-dns',
      'networkpolicy-ingress',
      'networkpolicy-egress',
      'helm-test',
      'rolling-restart',
    ]);
  });

  it('append the example values check, then the outside-GPU variant only when the scenario has one', () => {
    expect(clusterSteps(scenario).map((s) => s.id)).toEqual([...CLUSTER_STEPS.map((s) => s.id), 'examples-strict-apply']);
    const ids = clusterSteps(outsideScenario).map((s) => s.id);
    expect(ids.slice(CLUSTER_STEPS.length)).toEqual([
      'examples-strict-apply',
      'outside-gpu-dns',
      'outside-gpu-install',
      'outside-gpu-dns-from-relay',
      'outside-gpu-request',
      'outside-gpu-egress',
    ]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const s of clusterSteps(outsideScenario)) {
      const result = spawnSync('dash', ['-n'], { input: stepScript(s, outsideScenario), encoding: 'utf8' });
      expect(result.stderr, s.id).toBe('');
    }
    expect(() => validateScenario({ ...scenario, outsideGpu: { alias: 'gpu-outside', name: 'x.svc.cluster.local' } })).toThrow(
      /outside the cluster domain/,
    );
    expect(() => validateScenario({ ...scenario, outsideGpu: { alias: 'Bad', name: 'a.b' } })).toThrow(/alias/);
  });

  it('install the chart with the ExternalName to the stand-in and its pod IP as the only GPU CIDR', () => {
    const script = stepScript(step('install-chart'), scenario);
    expect(script).toContain(`'gpuExternalName.host="gpu-standin.e2e-gpu.svc.cluster.local"'`);
    expect(script).toContain(`'gpuExternalName.name="gpu-server"'`);
    expect(script).toContain(`'networkPolicy.traefik.namespaceSelector={"kubernetes.io/metadata.name":"e2e-traefik"}'`);
    expect(script).toContain(
      `'networkPolicy.traefik.podSelector={"app.kubernetes.io/name":"e2e-probe","app.kubernetes.io/part-of":"tokenplace-relay-e2e"}'`,
    );
    expect(script).toContain(`'replicaCount=2'`);
    expect(script).toContain('networkPolicy.gpuServer.cidrs=[\\"$(cidr_of "$gpu_ip")\\"]');
  });

  it('run helm test without --logs (Helm deletes a passing test pod, helm/helm#9098) and read a failed pod with kubectl', () => {
    const script = stepScript(step('helm-test'), scenario);
    expect(script).not.toContain('--logs');
    expect(script).toMatch(/helm test "\$RELEASE" --namespace "\$NS" --timeout "\$\{ROLLOUT_TIMEOUT\}s"\nrc=\$\?/);
    expect(script).toContain('kubectl -n "$NS" logs "$FULLNAME-test"');
    expect(readFileSync(join(REPO_ROOT, 'chart/templates/tests/test-connection.yaml'), 'utf8')).toContain(
      'helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded',
    );
  });

  it('retry positive controls and ask negative probes once, only after their control passed', () => {
    const egress = stepScript(step('networkpolicy-egress'), scenario);
    expect(egress).toMatch(/probe_until allowed "[^"]+" "\$S" &&\n\s*probe forbidden /);
    const ingress = stepScript(step('networkpolicy-ingress'), scenario);
    expect(ingress).toMatch(/probe_until control "\$CONTROL" "\$S" && \{\n\s*probe service [^\n]+\n\s*probe pod-port /);
    expect(ingress).toContain('CONTROL=http://$STANDIN_HOST:$GPU_PORT/v1/models');
    const client = stepScript(step('request-through-service'), scenario);
    expect(client.match(/probe_until /g)?.length).toBeGreaterThanOrEqual(4);
    expect(client).not.toMatch(/^probe /m);
    expect(stepScript(step('rolling-restart'), scenario)).toContain("grep -q '^FIRST_OK='");
    expect(scenario.timeouts.controlSeconds).toBe(30);
  });

  it('quote any string as one shell word', () => {
    for (const value of ["it's", 'a b', '$(rm -rf /)', '"\\\n`x`', '']) {
      expect(execFileSync('dash', ['-c', `printf %s ${shQuote(value)}`], { encoding: 'utf8' })).toBe(value);
    }
  });
});

describe('scenario', () => {
  it('rejects names Kubernetes would refuse and too few replicas for a rolling restart', () => {
    expect(() => validateScenario({ ...scenario, namespace: 'Bad_NS' })).toThrow(/namespace "Bad_NS" is not a DNS label/);
    expect(() => validateScenario({ ...scenario, replicas: 1 })).toThrow(/at least 2/);
    expect(() => validateScenario({ ...scenario, runId: 'UPPER' })).toThrow(/runId/);
    expect(() => validateScenario({ ...scenario, gpuPort: 70000 })).toThrow(/gpuPort/);
  });

  it('runs the relay namespace and the stand-ins under the restricted Pod Security Standard', () => {
    const ns = namespaces(scenario) as { metadata: { name: string; labels: Record<string, string> } }[];
    const restricted = ns
      .filter((n) => n.metadata.labels['pod-security.kubernetes.io/enforce'] === 'restricted')
      .map((n) => n.metadata.name);
    expect(restricted).toEqual(['tokenplace-e2e', 'e2e-gpu']);
    const json = JSON.stringify(gpuStandins(scenario));
    expect(json).toContain('"runAsNonRoot":true');
    expect(json).toContain('"drop":["ALL"]');
    expect(json).toContain('"allowPrivilegeEscalation":false');
  });
});

// Fakes of kubectl, wget and nslookup (no cluster can run here). They answer the few calls the scripts
// make, run the pod scripts the steps hand to `kubectl run`/`kubectl debug` when their logs are read,
// and so exercise the scripts' real shell plumbing: quoting, helpers, markers.
describe('step scripts against fake cluster tools', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fake-kubectl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tool = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}`);
    chmodSync(join(dir, name), 0o755);
  };
  tool(
    'kubectl',
    `printf '%s\\n' "$*" >> "$FAKE_DIR/calls"
for last; do :; done
case "$*" in
  *"get deploy"*go-template*) printf 'app.kubernetes.io/name=tokenplace-relay,app.kubernetes.io/instance=tokenplace-relay' ;;
  *"get pods"*field-selector*) printf 'tokenplace-relay-abc tokenplace-relay-def ' ;;
  *"get pods"*"app.kubernetes.io/name=gpu-standin"*podIP*) printf '10.42.0.20' ;;
  *"get pods"*"app.kubernetes.io/name=not-the-gpu"*podIP*) printf '10.42.0.30' ;;
  *"get pods"*podIP*) printf '10.42.0.5' ;;
  *" run "*"sleep 3600") printf '' > "$FAKE_DIR/pod-script" ;;
  *" run "*|*" debug "*) printf '%s' "$last" > "$FAKE_DIR/pod-script" ;;
  *" exec "*) sh -c "$last" ;;
  *"create configmap"*) printf '%s' "$*" > "$FAKE_DIR/configmap" ;;
  *"apply -f -"*) cat > /dev/null ;;
  *"get pod "*ephemeralContainerStatuses*) printf '0' ;;
  *"get pod "*"{.status.phase} {.status.podIP}"*) printf 'Running 10.42.0.77' ;;
  *"get pod "*phase*) printf 'Succeeded' ;;
  *" logs "*) sh -c "$(cat "$FAKE_DIR/pod-script")" ;;
esac
`,
  );
  tool(
    'getent',
    `[ "$1 $2" = "hosts gpu-outside" ] && printf '10.87.0.9       gpu-outside\\n'
`,
  );
  tool(
    'helm',
    `printf 'helm %s\\n' "$*" >> "$FAKE_DIR/calls"
printf 'NAME: tokenplace-relay\\nSTATUS: deployed\\n'
`,
  );
  // busybox-like wget: the fake network lets the stand-in and relay answer, and drops FAKE_BLOCKED.
  tool(
    'wget',
    `for url; do :; done
case "$url" in
  *"$FAKE_BLOCKED"*) echo "wget: download timed out" >&2; exit 1 ;;
  */v1/models) printf '{"object":"list","data":[{"id":"stand-in","object":"model"}]}' ;;
  *) printf 'ok' ;;
esac
`,
  );
  tool(
    'nslookup',
    `printf 'Server:\\t\\t10.43.0.10\\nAddress:\\t10.43.0.10:53\\n\\n%s\\tcanonical name = gpu-standin.e2e-gpu.svc.cluster.local\\nName:\\tgpu-standin.e2e-gpu.svc.cluster.local\\nAddress: 10.43.9.9\\n' "$1"
`,
  );
  const run = (id: string, blocked = 'nothing-is-blocked', s = scenario) => {
    writeFileSync(join(dir, 'calls'), '');
    const found = clusterSteps(s).find((c) => c.id === id) ?? step(id);
    const result = spawnSync('dash', ['-c', stepScript(found, s)], {
      encoding: 'utf8',
      env: { PATH: `${dir}:${process.env.PATH}`, FAKE_DIR: dir, FAKE_BLOCKED: blocked, TMPDIR: dir },
    });
    const out = { exitCode: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
    return { out, verdict: found.judge(out, s), calls: readFileSync(join(dir, 'calls'), 'utf8') };
  };

  it('request-through-service: a sleeping client pod, Running with an IP, then the probes by kubectl exec', () => {
    const { verdict, calls } = run('request-through-service');
    expect(verdict).toEqual({ ok: true, detail: expect.stringContaining('came back from the stand-in') });
    const lines = calls.split('\n');
    const created = lines.findIndex((l) =>
      /^-n e2e-traefik run e2e-client-abc123 --image=docker\.io\/library\/busybox:1\.37\.0 .*--restart=Never .*--command -- sleep 3600$/.test(
        l,
      ),
    );
    const waited = lines.findIndex((l) => l.includes('get pod e2e-client-abc123 -o jsonpath={.status.phase} {.status.podIP}'));
    const exec = lines.findIndex((l) =>
      /^-n e2e-traefik exec e2e-client-abc123 -- sh -c RELAY_HOST=tokenplace-relay\.tokenplace-e2e\.svc\.cluster\.local RELAY_IP=10\.42\.0\.5 /.test(
        l,
      ),
    );
    expect(created).toBeGreaterThanOrEqual(0);
    expect(waited).toBeGreaterThan(created);
    expect(exec).toBeGreaterThan(waited);
    expect(calls.slice(calls.indexOf(lines[exec]))).toContain('probe_until healthz "http://$RELAY_HOST/healthz" "$S"');
    expect(lines.slice(exec).some((l) => /^-n e2e-traefik delete pod e2e-client-abc123 /.test(l))).toBe(true);
  });

  it('gpu-server-dns: an ephemeral restricted container in a relay pod', () => {
    const { verdict, calls } = run('gpu-server-dns');
    expect(verdict.detail).toBe(
      'gpu-server.tokenplace-e2e.svc.cluster.local → gpu-standin.e2e-gpu.svc.cluster.local → 10.43.9.9; the relay pod reaches the stand-in by the short name',
    );
    expect(calls).toMatch(
      /^-n tokenplace-e2e debug pod\/tokenplace-relay-abc --image=\S+ --container=e2e-dns-abc123 --profile=restricted --custom=/m,
    );
    expect(readFileSync(join(dir, 'e2e-e2e-dns-abc123.json'), 'utf8')).toContain('"runAsNonRoot":true');
  });

  it('networkpolicy-egress: the forbidden pod IP must time out while the GPU pod IP answers', () => {
    expect(run('networkpolicy-egress', '10.42.0.30').verdict.ok).toBe(true);
    expect(run('networkpolicy-egress').verdict.detail).toMatch(/egress is not enforced/);
  });

  it('networkpolicy-ingress: the outsider pod is judged blocked only when its requests time out', () => {
    // /healthz is what the outsider asks the relay for; the control asks the stand-in for /v1/models.
    expect(run('networkpolicy-ingress', '/healthz').verdict).toMatchObject({ ok: true });
    expect(run('networkpolicy-ingress').verdict.detail).toMatch(/not enforced/);
  });

  it('networkpolicy-ingress: with its control unreachable, the relay is not even asked', () => {
    const quick = { ...scenario, timeouts: { ...scenario.timeouts, controlSeconds: 2 } };
    const { out, verdict } = run('networkpolicy-ingress', 'http', quick);
    expect(verdict.detail).toMatch(/^inconclusive: the outsider pod could not reach the stand-in/);
    expect(out.stdout).toMatch(/^PROBE name=control rc=1 tries=\d+$/m);
    expect(out.stdout).not.toContain('PROBE name=service');
  });
  it('outside-gpu-dns: resolves the outside host, serves it a LAN-style name from a CoreDNS zone, waits until pods resolve it', () => {
    const { verdict } = run('outside-gpu-dns', 'nothing', outsideScenario);
    expect(verdict).toEqual({ ok: true, detail: 'outside GPU host at 10.87.0.9, resolved after 0 s' });
    const configmap = readFileSync(join(dir, 'configmap'), 'utf8');
    expect(configmap).toContain('-n kube-system create configmap coredns-custom');
    expect(configmap).toContain(
      '--from-literal=outside-gpu.server=gpu-host.lan.test:53 {\n  hosts {\n    10.87.0.9 gpu-host.lan.test\n  }\n}',
    );
  });

  it('outside-gpu-install: the in-cluster stand-in scaled away, then the chart pointed at the name, its address the only CIDR', () => {
    const { verdict, calls } = run('outside-gpu-install', 'nothing', outsideScenario);
    expect(verdict.ok).toBe(true);
    const lines = calls.split('\n');
    const scaled = lines.indexOf('-n e2e-gpu scale deploy/gpu-standin --replicas=0');
    const helm = lines.findIndex((l) => l.startsWith('helm upgrade --install tokenplace-relay /src/chart'));
    expect(scaled).toBeGreaterThanOrEqual(0);
    expect(helm).toBeGreaterThan(scaled);
    expect(lines[helm]).toContain('gpuExternalName.host="gpu-host.lan.test"');
    expect(lines[helm]).toContain('networkPolicy.gpuServer.cidrs=["10.87.0.9/32"]');
  });

  it('outside-gpu-egress: the outside address must answer and the forbidden in-cluster pod stay blocked', () => {
    expect(run('outside-gpu-egress', '10.42.0.30', outsideScenario).verdict.ok).toBe(true);
    expect(run('outside-gpu-egress', 'nothing', outsideScenario).verdict.detail).toMatch(/egress is not enforced/);
  });
});
