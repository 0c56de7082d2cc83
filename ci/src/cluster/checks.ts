/**
 * The e2e cluster steps and checks, shared by the Dagger `e2e` function (k3s) and the kind script.
 * Each step is a POSIX shell script (kubectl + helm on PATH) and a judge of what it printed.
 */
import { e2eValues, setJsonArgs, VALUE_KEYS } from '../chart-values.ts';
import {
  type CommandOutput,
  describeProbe,
  fail,
  isIp,
  isStandinModels,
  judgeCname,
  markers,
  pass,
  probeOutcome,
  probes,
  tail,
  type Verdict,
} from './judge.ts';
import { applyScript, gpuStandins, namespaces } from './manifests.ts';
import {
  FORBIDDEN_NAME,
  fullname,
  ingressNamespaceLabels,
  ingressPodLabels,
  relayServiceHost,
  type Scenario,
  STANDIN_NAME,
  standinHost,
} from './scenario.ts';
import { FETCH_URL, HELPERS, IN_POD_PROBE, shExports, shQuote } from './shell.ts';

export interface ClusterStep {
  id: string;
  /** What the step proves, for reports. */
  title: string;
  /** Setup steps must pass for the checks to mean anything; a failed setup step stops the run. */
  kind: 'setup' | 'check';
  body(s: Scenario): string;
  judge(out: CommandOutput, s: Scenario): Verdict;
}

export function scenarioExports(s: Scenario): string {
  return shExports({
    NS: s.namespace,
    INGRESS_NS: s.ingressNamespace,
    OUTSIDER_NS: s.outsiderNamespace,
    GPU_NS: s.gpuNamespace,
    RELEASE: s.release,
    FULLNAME: fullname(s),
    CHART: s.chartPath,
    PROBE_IMAGE: s.probeImage,
    POD_TIMEOUT: s.timeouts.podSeconds,
    ROLLOUT_TIMEOUT: s.timeouts.rolloutSeconds,
    RUN_ID: s.runId,
    RELAY_HOST: relayServiceHost(s),
    RELAY_PORT: s.relayPort,
    GPU_PORT: s.gpuPort,
    GPU_SERVICE: s.gpuServiceName,
    STANDIN: STANDIN_NAME,
    STANDIN_HOST: standinHost(s),
    FORBIDDEN: FORBIDDEN_NAME,
    CONTROL_SECONDS: s.timeouts.controlSeconds,
  });
}

/**
 * What a person needs when a setup step failed: nodes and events of every namespace, pods that are not
 * running, and the tail of the cluster server's log when the scenario names one. Never fails.
 */
export function diagnosticsScript(s: Scenario): string {
  const log = s.serverLog
    ? `echo "--- tail of ${s.serverLog}"
tail -n 80 ${shQuote(s.serverLog)} 2>&1 || true
`
    : '';
  return `set -u
${scenarioExports(s)}
echo "--- kubectl get nodes,events -A"
kubectl get nodes,events -A -o wide 2>&1 | tail -n 80 || true
echo "--- pods not Running"
kubectl get pods -A --field-selector=status.phase!=Running -o wide 2>&1 | tail -n 40 || true
${log}`;
}

/** The complete script of a step: variables, helpers, then the step's own commands. */
export function stepScript(step: ClusterStep, s: Scenario): string {
  return `set -u\n${scenarioExports(s)}\n${HELPERS}\n# --- ${step.id}: ${step.title}\n${step.body(s)}`;
}

const exitOk =
  (what: string) =>
  (out: CommandOutput): Verdict =>
    out.exitCode === 0 ? pass(what) : fail(`exit ${out.exitCode}: ${tail(out, 6).replace(/\n/g, ' | ')}`);

const clusterReady: ClusterStep = {
  id: 'cluster-ready',
  title: 'the node is Ready and cluster DNS is up',
  kind: 'setup',
  body: () => `waited=0
until kubectl get nodes -o name 2>/dev/null | grep -q .; do
  [ "$waited" -ge "$ROLLOUT_TIMEOUT" ] && { echo "no node registered"; exit 1; }
  sleep 2; waited=$((waited + 2))
done
kubectl wait --for=condition=Ready nodes --all --timeout="\${ROLLOUT_TIMEOUT}s"
until kubectl -n kube-system get deploy coredns >/dev/null 2>&1; do
  [ "$waited" -ge "$ROLLOUT_TIMEOUT" ] && { echo "no coredns Deployment"; exit 1; }
  sleep 2; waited=$((waited + 2))
done
kubectl -n kube-system rollout status deploy/coredns --timeout="\${ROLLOUT_TIMEOUT}s"
`,
  judge: exitOk('node Ready, coredns rolled out'),
};

const createNamespaces: ClusterStep = {
  id: 'namespaces',
  title: 'namespaces for the relay, the ingress stand-in, an outsider and the GPU stand-in',
  kind: 'setup',
  body: (s) => applyScript(namespaces(s)),
  judge: exitOk('namespaces applied'),
};

const deployStandins: ClusterStep = {
  id: 'gpu-standin',
  title: 'the stand-in GPU server (and a forbidden second target) run in the cluster',
  kind: 'setup',
  body: (s) => `${applyScript(gpuStandins(s))}
kubectl -n "$GPU_NS" rollout status "deploy/$STANDIN" --timeout="\${ROLLOUT_TIMEOUT}s" || exit 1
kubectl -n "$GPU_NS" rollout status "deploy/$FORBIDDEN" --timeout="\${ROLLOUT_TIMEOUT}s" || exit 1
echo "STANDIN_IP=$(pod_ip "$GPU_NS" "$STANDIN")"
echo "FORBIDDEN_IP=$(pod_ip "$GPU_NS" "$FORBIDDEN")"
`,
  judge: (out) => {
    if (out.exitCode !== 0) return fail(`stand-ins did not roll out: ${tail(out, 6).replace(/\n/g, ' | ')}`);
    const m = markers(out.stdout);
    if (!isIp(m.get('STANDIN_IP')) || !isIp(m.get('FORBIDDEN_IP'))) return fail('stand-in pod IPs not found');
    return pass(`stand-in at ${m.get('STANDIN_IP')}, forbidden target at ${m.get('FORBIDDEN_IP')}`);
  },
};

const installChart: ClusterStep = {
  id: 'install-chart',
  title: 'helm installs the chart, GPU host = the stand-in via ExternalName, egress = its pod IP',
  kind: 'setup',
  body: (s) => {
    const values = e2eValues({
      imageRepository: s.relayImage.repository,
      imageTag: s.relayImage.tag,
      pullPolicy: s.relayImage.pullPolicy,
      gpuHost: standinHost(s),
      gpuPort: s.gpuPort,
      gpuServiceName: s.gpuServiceName,
      ingressNamespaceLabels: ingressNamespaceLabels(s),
      ingressPodLabels: ingressPodLabels(),
      replicas: s.replicas,
    });
    return `gpu_ip=$(pod_ip "$GPU_NS" "$STANDIN")
[ -n "$gpu_ip" ] || { echo "stand-in pod IP unknown"; exit 1; }
helm upgrade --install "$RELEASE" "$CHART" --namespace "$NS" --wait --timeout "\${ROLLOUT_TIMEOUT}s" \\
  ${setJsonArgs(values).map(shQuote).join(' ')} \\
  --set-json "${VALUE_KEYS.networkPolicyGpuCidrs}=[\\"$(cidr_of "$gpu_ip")\\"]"
`;
  },
  judge: (out) =>
    out.exitCode === 0 && /STATUS: deployed/.test(out.stdout)
      ? pass('release deployed')
      : fail(`helm upgrade --install failed: ${tail(out, 8).replace(/\n/g, ' | ')}`),
};

const deploymentReady: ClusterStep = {
  id: 'deployment-ready',
  title: 'the Deployment is Ready, readiness /healthz and liveness /livez pass on every pod',
  kind: 'check',
  body: () => `kubectl -n "$NS" rollout status "deploy/$FULLNAME" --timeout="\${ROLLOUT_TIMEOUT}s" || exit 1
# Give liveness a few periods to fail if it were going to.
sleep 15
echo "REPLICAS=$(kubectl -n "$NS" get deploy "$FULLNAME" -o jsonpath='{.spec.replicas}')"
echo "READY=$(kubectl -n "$NS" get deploy "$FULLNAME" -o jsonpath='{.status.readyReplicas}')"
kubectl -n "$NS" get pods -l "$(relay_selector)" -o go-template='{{range .items}}POD {{.metadata.name}} {{.status.phase}}{{range .status.containerStatuses}} ready={{.ready}} restarts={{.restartCount}}{{end}}{{range .spec.containers}} readiness={{with .readinessProbe}}{{with .httpGet}}{{.path}}{{end}}{{end}} liveness={{with .livenessProbe}}{{with .httpGet}}{{.path}}{{end}}{{end}}{{end}}
{{end}}'
`,
  judge: (out) => judgeDeploymentReady(out),
};

export function judgeDeploymentReady(out: CommandOutput): Verdict {
  if (out.exitCode !== 0) return fail(`rollout did not complete: ${tail(out, 6).replace(/\n/g, ' | ')}`);
  const m = markers(out.stdout);
  const replicas = Number(m.get('REPLICAS'));
  const ready = Number(m.get('READY') || 0);
  if (!(replicas > 0) || ready !== replicas) return fail(`${ready || 0} of ${m.get('REPLICAS') ?? '?'} replicas ready`);
  const pods = out.stdout.split('\n').filter((line) => line.startsWith('POD '));
  const running = pods.filter((line) => line.split(' ')[2] === 'Running');
  if (running.length < replicas) return fail(`${running.length} running pods for ${replicas} replicas`);
  for (const line of running) {
    const name = line.split(' ')[1];
    if (!/ ready=true/.test(line)) return fail(`${name} is not ready (readiness /healthz failing)`);
    const restarts = /restarts=(\d+)/.exec(line);
    if (!restarts || Number(restarts[1]) !== 0)
      return fail(`${name} restarted ${restarts?.[1] ?? '?'} times (liveness /livez failing?)`);
    if (!/ readiness=\/healthz/.test(line)) return fail(`${name}: readiness probe is not GET /healthz`);
    if (!/ liveness=\/livez/.test(line)) return fail(`${name}: liveness probe is not GET /livez`);
  }
  return pass(`${ready}/${replicas} ready, no restarts, probes on /healthz and /livez`);
}

export const requestThroughService: ClusterStep = {
  id: 'request-through-service',
  title: 'from the ingress namespace, requests through the Service reach the stand-in GPU server',
  kind: 'check',
  body: () => `relay_ip=$(kubectl -n "$NS" get pods -l "$(relay_selector)" -o jsonpath='{.items[0].status.podIP}')
probe_pod "$INGRESS_NS" "e2e-client-$RUN_ID" "RELAY_HOST=$RELAY_HOST RELAY_IP=$relay_ip RELAY_PORT=$RELAY_PORT S=$CONTROL_SECONDS; "${shQuote(
    `${IN_POD_PROBE}probe_until healthz "http://$RELAY_HOST/healthz" "$S"
probe_until livez "http://$RELAY_HOST/livez" "$S"
probe_until models "http://$RELAY_HOST/v1/models" "$S"
probe_until pod-port "http://$RELAY_IP:$RELAY_PORT/healthz" "$S"
`,
  )}
`,
  judge: (out) => judgeRequestThroughService(out),
};

export function judgeRequestThroughService(out: CommandOutput): Verdict {
  const found = probes(out.stdout);
  for (const name of ['healthz', 'livez', 'pod-port']) {
    if (probeOutcome(found.get(name)) !== 'reached')
      return fail(`${name} from the ingress namespace: ${describeProbe(found.get(name))}`);
  }
  const models = found.get('models');
  if (probeOutcome(models) !== 'reached') return fail(`GET /v1/models through the Service: ${describeProbe(models)}`);
  if (!models || !isStandinModels(models.body))
    return fail(`GET /v1/models answered, but not with the stand-in's model list: ${models?.body.trim().slice(0, 200)}`);
  return pass('/healthz, /livez and the pod port answer; /v1/models came back from the stand-in GPU server');
}

const gpuServerResolves: ClusterStep = {
  id: 'gpu-server-dns',
  title: 'the gpu-server name resolves from the relay pod and leads to the stand-in',
  kind: 'check',
  body: () => `in_relay_pod "e2e-dns-$RUN_ID" "NS=$NS GPU_SERVICE=$GPU_SERVICE GPU_PORT=$GPU_PORT S=$CONTROL_SECONDS; "${shQuote(
    `${IN_POD_PROBE}echo NSLOOKUP
nslookup "$GPU_SERVICE.$NS.svc.cluster.local" 2>&1
echo END_NSLOOKUP
probe_until short-name "http://$GPU_SERVICE:$GPU_PORT/v1/models" "$S"
`,
  )}
`,
  judge: (out, s) => judgeGpuServerResolves(out, `${s.gpuServiceName}.${s.namespace}.svc.cluster.local`, standinHost(s)),
};

export function judgeGpuServerResolves(out: CommandOutput, alias: string, target: string): Verdict {
  const m = markers(out.stdout);
  const exit = m.get('EPHEMERAL_EXIT');
  if (exit === undefined || !/^\d+$/.test(exit))
    return fail(`the ephemeral probe container did not run: ${exit ?? tail(out, 4)}`);
  const section = /NSLOOKUP\n([\s\S]*?)END_NSLOOKUP/.exec(out.stdout);
  const dns = judgeCname(section?.[1] ?? '', alias, target);
  if (!dns.ok) return dns;
  const short = probes(out.stdout).get('short-name');
  if (probeOutcome(short) !== 'reached' || !short || !isStandinModels(short.body)) {
    return fail(`gpu-server resolves, but http://gpu-server from the relay pod: ${describeProbe(short)}`);
  }
  return pass(`${dns.detail}; the relay pod reaches the stand-in by the short name`);
}

const networkPolicyIngress: ClusterStep = {
  id: 'networkpolicy-ingress',
  title: 'a pod outside the ingress namespace cannot reach the relay (but reaches the stand-in: control)',
  kind: 'check',
  body: () => `relay_ip=$(kubectl -n "$NS" get pods -l "$(relay_selector)" -o jsonpath='{.items[0].status.podIP}')
probe_pod "$OUTSIDER_NS" "e2e-outsider-$RUN_ID" "RELAY_HOST=$RELAY_HOST RELAY_IP=$relay_ip RELAY_PORT=$RELAY_PORT CONTROL=http://$STANDIN_HOST:$GPU_PORT/v1/models S=$CONTROL_SECONDS; "${shQuote(
    `${IN_POD_PROBE}probe_until control "$CONTROL" "$S" && {
  probe service "http://$RELAY_HOST/healthz"
  probe pod-port "http://$RELAY_IP:$RELAY_PORT/healthz"
}
`,
  )}
`,
  judge: (out) => judgeNetworkPolicyIngress(out),
};

export function judgeNetworkPolicyIngress(out: CommandOutput): Verdict {
  const found = probes(out.stdout);
  const phase = markers(out.stdout).get('POD_PHASE');
  if (found.size === 0) return fail(`the outsider pod printed nothing (phase ${phase ?? 'unknown'})`);
  // The control: the same pod reaches the stand-in (no policy there), so its own networking is up and
  // a "blocked" below is the relay's NetworkPolicy, not a pod that could reach nothing yet.
  const control = found.get('control');
  if (probeOutcome(control) !== 'reached' || !control || !isStandinModels(control.body))
    return fail(`inconclusive: the outsider pod could not reach the stand-in either (control): ${describeProbe(control)}`);
  for (const name of ['service', 'pod-port']) {
    const outcome = probeOutcome(found.get(name));
    if (outcome === 'reached' || outcome === 'http-error')
      return fail(`an outsider pod reached the relay (${name}): the NetworkPolicy is not enforced`);
    if (outcome !== 'blocked') return fail(`inconclusive: outsider probe ${name} ended ${describeProbe(found.get(name))}`);
  }
  return pass('outsider pod reaches the stand-in (control) but is blocked at the Service and at the pod port');
}

const networkPolicyEgress: ClusterStep = {
  id: 'networkpolicy-egress',
  title: 'the relay reaches the GPU CIDR and nothing outside it',
  kind: 'check',
  body: () => `gpu_ip=$(pod_ip "$GPU_NS" "$STANDIN"); other_ip=$(pod_ip "$GPU_NS" "$FORBIDDEN")
in_relay_pod "e2e-egress-$RUN_ID" "GPU_IP=$gpu_ip OTHER_IP=$other_ip GPU_PORT=$GPU_PORT S=$CONTROL_SECONDS; "${shQuote(
    `${IN_POD_PROBE}probe_until allowed "http://$GPU_IP:$GPU_PORT/v1/models" "$S" &&
  probe forbidden "http://$OTHER_IP:$GPU_PORT/v1/models"
`,
  )}
`,
  judge: (out) => judgeNetworkPolicyEgress(out),
};

export function judgeNetworkPolicyEgress(out: CommandOutput): Verdict {
  const found = probes(out.stdout);
  const exit = markers(out.stdout).get('EPHEMERAL_EXIT');
  if (exit === undefined || !/^\d+$/.test(exit))
    return fail(`the ephemeral probe container did not run: ${exit ?? tail(out, 4)}`);
  const allowed = found.get('allowed');
  if (probeOutcome(allowed) !== 'reached' || !allowed || !isStandinModels(allowed.body)) {
    return fail(`the relay pod cannot reach the GPU CIDR it is allowed: ${describeProbe(allowed)}`);
  }
  const forbidden = probeOutcome(found.get('forbidden'));
  if (forbidden === 'reached' || forbidden === 'http-error')
    return fail('the relay pod reached an address outside the allowed CIDRs: egress is not enforced');
  if (forbidden !== 'blocked') return fail(`inconclusive: forbidden probe ended ${describeProbe(found.get('forbidden'))}`);
  return pass('GPU CIDR reachable; an address outside it is blocked');
}

const helmTest: ClusterStep = {
  id: 'helm-test',
  title: 'helm test passes',
  kind: 'check',
  // No --logs: the test pod's hook-delete-policy includes hook-succeeded, so Helm deletes a passing pod
  // and --logs then exits 1 with "pods not found" (helm/helm#9098, fixed only after Helm 3.19 and 4.0.0).
  // A failed pod is kept by Helm, and its log is read here before the next run deletes it.
  body: () => `helm test "$RELEASE" --namespace "$NS" --timeout "\${ROLLOUT_TIMEOUT}s"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "TEST_POD_LOG:"
  kubectl -n "$NS" logs "$FULLNAME-test" 2>&1 | sed 's/^/  | /'
fi
exit "$rc"
`,
  judge: (out) => judgeHelmTest(out),
};

export function judgeHelmTest(out: CommandOutput): Verdict {
  const suites = [...out.stdout.matchAll(/^TEST SUITE:\s+(\S+)\s*\n(?:.*\n)*?Phase:\s+(\S+)/gm)];
  if (out.exitCode !== 0) return fail(`helm test failed: ${tail(out, 8).replace(/\n/g, ' | ')}`);
  if (suites.length === 0) return fail('helm test ran no test pod (the chart should ship templates/tests/)');
  const failed = suites.filter((m) => m[2] !== 'Succeeded');
  if (failed.length > 0) return fail(`helm test pods not Succeeded: ${failed.map((m) => `${m[1]}=${m[2]}`).join(', ')}`);
  return pass(`${suites.length} test pod(s) Succeeded`);
}

const rollingRestart: ClusterStep = {
  id: 'rolling-restart',
  title: 'a rolling restart under light load loses no request',
  kind: 'check',
  body: (s) => `before=$(relay_pods)
load="e2e-load-$RUN_ID"
start_pod "$INGRESS_NS" "$load" "URL=http://$RELAY_HOST/v1/models DURATION=$((${s.timeouts.loadSeconds} + CONTROL_SECONDS)); "${shQuote(
    // Requests count from the first success on: until the NetworkPolicy admits this new pod's address,
    // the relay's chain refuses it, which says nothing about the restart.
    `${FETCH_URL}end=$(( $(date +%s) + DURATION )); n=0; f=0; warm=0; ok=0
echo "LOAD_START=$(date +%s)"
while [ "$(date +%s)" -lt "$end" ]; do
  if out=$(fetch_url "$URL" 10); then
    [ "$ok" -eq 0 ] && { ok=1; echo "FIRST_OK=$(date +%s)"; }
    n=$((n + 1))
  elif [ "$ok" -eq 0 ]; then
    warm=$((warm + 1))
  else
    n=$((n + 1)); f=$((f + 1)); [ "$f" -le 20 ] && echo "FAILED request $n at $(date +%s): $out"
  fi
  usleep 200000 2>/dev/null || sleep 1
done
echo "LOAD_END=$(date +%s)"
echo "WARMUP_FAILURES=$warm"
echo "REQUESTS=$n"
echo "FAILURES=$f"
`,
  )} || { echo "POD_PHASE=CreateFailed"; exit 1; }
wait_pod_running "$INGRESS_NS" "$load" || { echo "load pod never ran"; finish_pod "$INGRESS_NS" "$load"; exit 1; }
# The restart starts only once the load reaches the relay.
waited=0
until kubectl -n "$INGRESS_NS" logs "$load" 2>/dev/null | grep -q '^FIRST_OK='; do
  if [ "$waited" -ge "$CONTROL_SECONDS" ]; then echo "the load never reached the relay"; finish_pod "$INGRESS_NS" "$load"; exit 1; fi
  sleep 1; waited=$((waited + 1))
done
sleep 5
kubectl -n "$NS" rollout restart "deploy/$FULLNAME"
kubectl -n "$NS" rollout status "deploy/$FULLNAME" --timeout="\${ROLLOUT_TIMEOUT}s"
echo "ROLLOUT_RC=$?"
echo "ROLLOUT_DONE_AT=$(date +%s)"
finish_pod "$INGRESS_NS" "$load"
echo "PODS_BEFORE=$before"
echo "PODS_AFTER=$(relay_pods)"
`,
  judge: (out) => judgeRollingRestart(out),
};

export function judgeRollingRestart(out: CommandOutput): Verdict {
  const m = markers(out.stdout);
  if (!m.has('FIRST_OK'))
    return fail(`the load never reached the relay, so no restart was tried: ${tail(out, 4).replace(/\n/g, ' | ')}`);
  if (m.get('ROLLOUT_RC') !== '0') return fail(`the restart did not roll out: ${tail(out, 6).replace(/\n/g, ' | ')}`);
  if (m.get('POD_PHASE') !== 'Succeeded') return fail(`the load pod ended ${m.get('POD_PHASE') ?? 'without a phase'}`);
  const requests = Number(m.get('REQUESTS'));
  const failures = Number(m.get('FAILURES'));
  if (!Number.isInteger(requests) || !Number.isInteger(failures)) return fail('the load pod printed no request counts');
  const before = (m.get('PODS_BEFORE') ?? '').split(/\s+/).filter(Boolean);
  const after = (m.get('PODS_AFTER') ?? '').split(/\s+/).filter(Boolean);
  if (before.length === 0 || after.length === 0) return fail('relay pods before/after the restart not found');
  if (after.some((pod) => before.includes(pod)))
    return fail(`pods ${after.filter((p) => before.includes(p)).join(', ')} survived the restart`);
  const done = Number(m.get('ROLLOUT_DONE_AT'));
  const end = Number(m.get('LOAD_END'));
  if (!(done <= end)) return fail(`the load ended (${end}) before the rollout finished (${done}); raise the load duration`);
  if (requests < 20) return fail(`only ${requests} requests were sent`);
  if (failures > 0) {
    const first = out.stdout.split('\n').find((line) => line.startsWith('FAILED request')) ?? '';
    return fail(`${failures} of ${requests} requests failed during the restart; first: ${first}`);
  }
  return pass(`${requests} requests during the restart, none failed; pods ${before.join(',')} → ${after.join(',')}`);
}

/** Order matters: setup first, then checks that build on each other. */
export const CLUSTER_STEPS: readonly ClusterStep[] = [
  clusterReady,
  createNamespaces,
  deployStandins,
  installChart,
  deploymentReady,
  requestThroughService,
  gpuServerResolves,
  networkPolicyIngress,
  networkPolicyEgress,
  helmTest,
  rollingRestart,
];
