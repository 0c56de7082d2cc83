import { describe, expect, it } from 'vitest';
import {
  judgeDeploymentReady,
  judgeGpuServerResolves,
  judgeHelmTest,
  judgeNetworkPolicyEgress,
  judgeNetworkPolicyIngress,
  judgeRequestThroughService,
  judgeRollingRestart,
} from '../src/cluster/checks.ts';
import { judgeExamples } from '../src/cluster/examples.ts';
import { judgeCname, markers, probeOutcome, probes } from '../src/cluster/judge.ts';

const ok = (stdout: string, exitCode = 0) => ({ exitCode, stdout, stderr: '' });
const MODELS = '{"object":"list","data":[{"id":"stand-in","object":"model"}]}';
const probe = (name: string, rc: number, ...lines: string[]) =>
  `PROBE name=${name} rc=${rc}\n${lines.map((l) => `  | ${l}`).join('\n')}${lines.length ? '\n' : ''}`;

describe('probe output', () => {
  it('parses PROBE blocks and classifies busybox wget endings', () => {
    const text = [
      probe('a', 0, MODELS),
      probe('b', 1, 'wget: download timed out'),
      probe('c', 1, "wget: can't connect to remote host (10.42.0.9): Connection refused"),
      probe('d', 1, "wget: bad address 'gpu-server'"),
      probe('e', 1, 'wget: server returned error: HTTP/1.1 503 Service Unavailable'),
      probe('f', 1, 'something else'),
      'POD_PHASE=Succeeded',
    ].join('');
    const found = probes(text);
    expect([...found.keys()]).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(found.get('a')?.body.trim()).toBe(MODELS);
    expect(['a', 'b', 'c', 'd', 'e', 'f'].map((n) => probeOutcome(found.get(n)))).toEqual([
      'reached',
      'blocked',
      'blocked',
      'dns-failure',
      'http-error',
      'unknown',
    ]);
    expect(probeOutcome(undefined)).toBe('missing');
    expect(markers(text).get('POD_PHASE')).toBe('Succeeded');
  });

  it('reads how many tries a retried positive control took', () => {
    const found = probes(`PROBE name=control rc=0 tries=4\n  | ${MODELS}\nPROBE name=single rc=1 tries=1\n  | x\n`);
    expect(found.get('control')).toMatchObject({ rc: 0, tries: 4 });
    expect(found.get('single')).toMatchObject({ rc: 1, tries: 1 });
    expect(probes(probe('old', 0, 'ok')).get('old')?.tries).toBe(1);
  });
});

describe('deployment-ready', () => {
  const pods = (a: string, b: string) =>
    `REPLICAS=2\nREADY=2\nPOD r-1 Running ${a} readiness=/healthz liveness=/livez\nPOD r-2 Running ${b} readiness=/healthz liveness=/livez\n`;

  it('passes when every replica is ready with no restarts and the probes point at the right paths', () => {
    expect(judgeDeploymentReady(ok(pods('ready=true restarts=0', 'ready=true restarts=0'))).ok).toBe(true);
  });

  it('names the failing pod and probe', () => {
    expect(judgeDeploymentReady(ok(pods('ready=true restarts=0', 'ready=false restarts=0'))).detail).toMatch(
      /r-2 is not ready.*\/healthz/,
    );
    expect(judgeDeploymentReady(ok(pods('ready=true restarts=3', 'ready=true restarts=0'))).detail).toMatch(
      /r-1 restarted 3 times.*\/livez/,
    );
    expect(
      judgeDeploymentReady(ok(pods('ready=true restarts=0', 'ready=true restarts=0').replace('READY=2', 'READY=1'))).detail,
    ).toBe('1 of 2 replicas ready');
    const wrongPath = pods('ready=true restarts=0', 'ready=true restarts=0').replace('readiness=/healthz', 'readiness=/');
    expect(judgeDeploymentReady(ok(wrongPath)).detail).toMatch(/readiness probe is not GET \/healthz/);
    expect(judgeDeploymentReady(ok('error: timed out waiting for the condition', 1)).ok).toBe(false);
  });
});

describe('request-through-service', () => {
  const all = (models: string) => probe('healthz', 0, 'ok') + probe('livez', 0, 'ok') + models + probe('pod-port', 0, 'ok');

  it('requires the stand-in model list to come back through the Service', () => {
    expect(judgeRequestThroughService(ok(all(probe('models', 0, MODELS)))).ok).toBe(true);
    expect(judgeRequestThroughService(ok(all(probe('models', 0, '{"data":[]}')))).detail).toMatch(/not with the stand-in/);
    expect(
      judgeRequestThroughService(ok(all(probe('models', 1, 'wget: server returned error: HTTP/1.1 502 Bad Gateway')))).detail,
    ).toMatch(/http-error/);
  });
});

describe('gpu-server-dns', () => {
  const alias = 'gpu-server.tokenplace-e2e.svc.cluster.local';
  const target = 'gpu-standin.e2e-gpu.svc.cluster.local';
  const nslookup = `Server:\t\t10.43.0.10\nAddress:\t10.43.0.10:53\n\n${alias}\tcanonical name = ${target}\nName:\t${target}\nAddress: 10.43.77.12\n`;

  it('reads busybox nslookup of an ExternalName', () => {
    expect(judgeCname(nslookup, alias, target)).toEqual({ ok: true, detail: `${alias} → ${target} → 10.43.77.12` });
    expect(judgeCname(nslookup.replace(target, 'elsewhere.example').replace(target, 'elsewhere.example'), alias, target).ok).toBe(
      false,
    );
    expect(judgeCname(`** server can't find ${alias}: NXDOMAIN\n`, alias, target).detail).toMatch(/did not resolve/);
    expect(judgeCname(nslookup.replace('Address: 10.43.77.12\n', ''), alias, target).detail).toMatch(/no address/);
  });

  it('also needs the short name to reach the stand-in from the relay pod', () => {
    const good = `NSLOOKUP\n${nslookup}END_NSLOOKUP\n${probe('short-name', 0, MODELS)}EPHEMERAL_EXIT=0\n`;
    expect(judgeGpuServerResolves(ok(good), alias, target).ok).toBe(true);
    expect(
      judgeGpuServerResolves(ok(good.replace('rc=0', 'rc=1').replace(MODELS, 'wget: download timed out')), alias, target).detail,
    ).toMatch(/blocked/);
    expect(judgeGpuServerResolves(ok('EPHEMERAL_EXIT=CreateFailed\n'), alias, target).detail).toMatch(
      /did not run: CreateFailed/,
    );
  });
});

describe('networkpolicy-ingress', () => {
  it('passes only when both the Service and the pod port time out or are refused', () => {
    const control = probe('control', 0, MODELS);
    const blocked =
      control +
      probe('service', 1, 'wget: download timed out') +
      probe('pod-port', 1, 'wget: download timed out') +
      'POD_PHASE=Succeeded\n';
    expect(judgeNetworkPolicyIngress(ok(blocked)).ok).toBe(true);
    const leaked = control + probe('service', 0, 'ok') + probe('pod-port', 1, 'wget: download timed out');
    expect(judgeNetworkPolicyIngress(ok(leaked)).detail).toMatch(/not enforced/);
    // A 503 still means the packets got through.
    const http =
      control +
      probe('service', 1, 'wget: server returned error: HTTP/1.1 503 Service Unavailable') +
      probe('pod-port', 1, 'wget: download timed out');
    expect(judgeNetworkPolicyIngress(ok(http)).detail).toMatch(/not enforced/);
    const dns = control + probe('service', 1, "wget: bad address 'x'") + probe('pod-port', 1, 'wget: download timed out');
    expect(judgeNetworkPolicyIngress(ok(dns)).detail).toMatch(/inconclusive/);
    expect(judgeNetworkPolicyIngress(ok('POD_PHASE=Timeout(Pending)\n')).detail).toMatch(/printed nothing.*Timeout\(Pending\)/);
  });

  it('does not count a pod that could reach nothing as blocked: the control must pass first', () => {
    // The script runs the relay probes only after the control; a failed control leaves only itself.
    const noNetwork = `PROBE name=control rc=1 tries=31\n  | wget: can't connect to remote host: Connection refused\nPOD_PHASE=Running\n`;
    expect(judgeNetworkPolicyIngress(ok(noNetwork)).detail).toMatch(
      /^inconclusive: the outsider pod could not reach the stand-in either \(control\): blocked \(wget exit 1 after 31 tries/,
    );
  });
});

describe('networkpolicy-egress', () => {
  it('needs the allowed CIDR reachable (control) and the other address blocked', () => {
    const good = `${probe('allowed', 0, MODELS)}${probe('forbidden', 1, 'wget: download timed out')}EPHEMERAL_EXIT=1\n`;
    expect(judgeNetworkPolicyEgress(ok(good)).ok).toBe(true);
    expect(
      judgeNetworkPolicyEgress(ok(good.replace('rc=1\n  | wget: download timed out', `rc=0\n  | ${MODELS}`))).detail,
    ).toMatch(/egress is not enforced/);
    const noControl = `${probe('allowed', 1, 'wget: download timed out')}${probe('forbidden', 1, 'wget: download timed out')}EPHEMERAL_EXIT=1\n`;
    expect(judgeNetworkPolicyEgress(ok(noControl)).detail).toMatch(/cannot reach the GPU CIDR/);
  });
});

describe('helm-test', () => {
  const out =
    'NAME: tokenplace-relay\nSTATUS: deployed\nTEST SUITE:     tokenplace-relay-test-probes\nLast Started:   x\nLast Completed: y\nPhase:          Succeeded\n';

  it('wants at least one test pod and all Succeeded', () => {
    expect(judgeHelmTest(ok(out))).toEqual({ ok: true, detail: '1 test pod(s) Succeeded' });
    expect(judgeHelmTest(ok('NAME: tokenplace-relay\nSTATUS: deployed\n')).detail).toMatch(/no test pod/);
    expect(judgeHelmTest(ok(out.replace('Succeeded', 'Failed'), 1)).ok).toBe(false);
  });
});

describe('rolling-restart', () => {
  const out = (over: Record<string, string> = {}) => {
    const m = {
      LOAD_START: '100',
      FIRST_OK: '101',
      ROLLOUT_RC: '0',
      ROLLOUT_DONE_AT: '150',
      LOAD_END: '190',
      REQUESTS: '400',
      FAILURES: '0',
      POD_PHASE: 'Succeeded',
      PODS_BEFORE: 'r-a r-b ',
      PODS_AFTER: 'r-c r-d ',
      ...over,
    };
    return ok(
      `${Object.entries(m)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
  };

  it('passes when every request succeeded across a completed restart', () => {
    expect(judgeRollingRestart(out()).detail).toBe('400 requests during the restart, none failed; pods r-a,r-b → r-c,r-d');
  });

  it('fails on a lost request, naming the first', () => {
    const lost = out({ FAILURES: '1' });
    lost.stdout += 'FAILED request 212 at 160: wget: server returned error: HTTP/1.1 502 Bad Gateway\n';
    expect(judgeRollingRestart(lost).detail).toMatch(/1 of 400 requests failed.*FAILED request 212/);
  });

  it('does not pass a restart that did not happen or outlasted the load', () => {
    expect(judgeRollingRestart(out({ PODS_AFTER: 'r-a r-c' })).detail).toMatch(/r-a survived/);
    expect(judgeRollingRestart(out({ ROLLOUT_DONE_AT: '200' })).detail).toMatch(/before the rollout finished/);
    expect(judgeRollingRestart(out({ ROLLOUT_RC: '1' })).ok).toBe(false);
    expect(judgeRollingRestart(out({ POD_PHASE: 'Failed' })).ok).toBe(false);
    expect(judgeRollingRestart(out({ REQUESTS: '3' })).detail).toMatch(/only 3 requests/);
  });

  it('needs the load to have reached the relay once before anything counts', () => {
    const never = out();
    never.stdout = `${never.stdout.replace('FIRST_OK=101\n', '')}the load never reached the relay\n`;
    expect(judgeRollingRestart(never).detail).toMatch(/^the load never reached the relay, so no restart was tried/);
  });
});

describe('examples-strict-apply', () => {
  const accepted = (file: string) =>
    `EXAMPLE file=${file} rc=0 warnings=0\n  | deployment.apps/example-1-tokenplace-relay serverside-applied (server dry run)\n`;

  it('passes when every example file was applied without an error or a warning', () => {
    const stdout = `${accepted('a.values.yaml')}${accepted('b.values.yaml')}EXAMPLES_SEEN=2\n`;
    expect(judgeExamples(ok(stdout))).toEqual({ ok: true, detail: '2 example files accepted, no warning' });
  });

  it('names the file and the first lines of what the API server said', () => {
    const warned =
      'EXAMPLE file=b.values.yaml rc=0 warnings=1\n' +
      '  | Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false\n';
    const strict =
      'EXAMPLE file=c.values.yaml rc=1 warnings=0\n' +
      '  | Error from server (BadRequest): .spec.template.spec.containers[0].bogus: field not declared in schema\n';
    const verdict = judgeExamples(ok(`${accepted('a.values.yaml')}${warned}${strict}EXAMPLES_SEEN=3\n`));
    expect(verdict.ok).toBe(false);
    expect(verdict.detail).toMatch(/^b\.values\.yaml \(apply exit 0, 1 warnings\), c\.values\.yaml \(apply exit 1, 0 warnings\)/);
    expect(verdict.detail).toMatch(/would violate PodSecurity/);
  });

  it('fails on a render error, on a missing result and when no file was found', () => {
    expect(
      judgeExamples(
        ok("EXAMPLE file=a.values.yaml rc=render warnings=0\n  | Error: values don't meet the specifications\nEXAMPLES_SEEN=1\n"),
      ).detail,
    ).toMatch(/a\.values\.yaml \(helm template failed/);
    expect(judgeExamples(ok(`${accepted('a.values.yaml')}EXAMPLES_SEEN=2\n`)).detail).toBe('1 results for 2 example files');
    expect(judgeExamples(ok('EXAMPLES_SEEN=0\n')).detail).toBe('no example values file found');
  });
});
