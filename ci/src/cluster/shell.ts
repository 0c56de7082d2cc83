/** POSIX shell building blocks for the cluster checks. Scripts run under `sh` with kubectl and helm on PATH. */
import { PROBE_POD_LABELS } from './scenario.ts';

/** Quotes a string as one shell word. */
export function shQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `NAME=value` lines, each value quoted. */
export function shExports(vars: Record<string, string | number>): string {
  return Object.entries(vars)
    .map(([name, value]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(name)) throw new Error(`shell variable name ${JSON.stringify(name)} is not valid`);
      return `${name}=${shQuote(String(value))}`;
    })
    .join('\n');
}

/**
 * Runs inside probe pods and ephemeral containers (busybox). `probe NAME URL` prints
 * `PROBE name=NAME rc=N` and then wget's output, each line prefixed with "  | ".
 */
export const IN_POD_PROBE = `probe() {
  out=$(wget -q -O- -T 5 "$2" 2>&1); rc=$?
  printf 'PROBE name=%s rc=%s\\n' "$1" "$rc"
  printf '%s\\n' "$out" | head -n 20 | sed 's/^/  | /'
}
`;

/** Helpers for the scripts that drive the cluster; they expect the variables of `scenarioExports`. */
export const HELPERS = `log() { printf '%s\\n' "$*" >&2; }

# wait_pod_done NAMESPACE POD: the pod's final phase, or Timeout(<phase>) after $POD_TIMEOUT seconds.
wait_pod_done() {
  _ns=$1; _pod=$2; _waited=0
  while :; do
    _phase=$(kubectl -n "$_ns" get pod "$_pod" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    case "$_phase" in Succeeded|Failed) break ;; esac
    if [ "$_waited" -ge "$POD_TIMEOUT" ]; then _phase="Timeout(\${_phase:-none})"; break; fi
    sleep 2; _waited=$((_waited + 2))
  done
  printf '%s' "$_phase"
}

# wait_pod_running NAMESPACE POD: returns non-zero if the pod is not Running within $POD_TIMEOUT seconds.
wait_pod_running() {
  _waited=0
  while [ "$(kubectl -n "$1" get pod "$2" -o jsonpath='{.status.phase}' 2>/dev/null)" != Running ]; do
    [ "$_waited" -ge "$POD_TIMEOUT" ] && return 1
    sleep 1; _waited=$((_waited + 1))
  done
}

# start_pod NAMESPACE NAME SCRIPT: a one-off busybox pod running SCRIPT.
start_pod() {
  kubectl -n "$1" delete pod "$2" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  kubectl -n "$1" run "$2" --image="$PROBE_IMAGE" --image-pull-policy=IfNotPresent --restart=Never \\
    --labels=${Object.entries(PROBE_POD_LABELS)
      .map(([key, value]) => `${key}=${value}`)
      .join(',')} --command -- sh -c "$3" >/dev/null
}

# finish_pod NAMESPACE NAME: waits for the pod, prints its log and POD_PHASE=..., deletes it.
finish_pod() {
  _phase=$(wait_pod_done "$1" "$2")
  kubectl -n "$1" logs "$2" 2>&1 || true
  echo "POD_PHASE=$_phase"
  kubectl -n "$1" delete pod "$2" --ignore-not-found --wait=false >/dev/null 2>&1 || true
}

# probe_pod NAMESPACE NAME SCRIPT: start_pod + finish_pod.
probe_pod() {
  if start_pod "$1" "$2" "$3"; then finish_pod "$1" "$2"; else echo "POD_PHASE=CreateFailed"; fi
}

# relay_selector: the Deployment's own pod selector as a kubectl label selector.
relay_selector() {
  kubectl -n "$NS" get deploy "$FULLNAME" \\
    -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}' | sed 's/,$//'
}

relay_pods() {
  kubectl -n "$NS" get pods -l "$(relay_selector)" --field-selector=status.phase=Running \\
    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}'
}

pod_ip() { kubectl -n "$1" get pods -l "app.kubernetes.io/name=$2" -o jsonpath='{.items[0].status.podIP}'; }

# in_relay_pod NAME SCRIPT: runs SCRIPT in an ephemeral busybox container of a relay pod. It shares the
# pod's network namespace, so the relay's NetworkPolicy applies to it. Prints its log and EPHEMERAL_EXIT=...
in_relay_pod() {
  _pod=$(relay_pods | cut -d' ' -f1)
  if [ -z "$_pod" ]; then echo "EPHEMERAL_EXIT=NoRunningRelayPod"; return 0; fi
  _custom="\${TMPDIR:-/tmp}/e2e-$1.json"
  printf '%s' '{"securityContext":{"runAsNonRoot":true,"runAsUser":65532,"runAsGroup":65532}}' > "$_custom"
  if ! kubectl -n "$NS" debug "pod/$_pod" --image="$PROBE_IMAGE" --container="$1" --profile=restricted \\
      --custom="$_custom" -- sh -c "$2" >/dev/null; then
    echo "EPHEMERAL_EXIT=CreateFailed"; return 0
  fi
  _waited=0; _code=
  while [ -z "$_code" ]; do
    _code=$(kubectl -n "$NS" get pod "$_pod" \\
      -o jsonpath="{.status.ephemeralContainerStatuses[?(@.name==\\"$1\\")].state.terminated.exitCode}" 2>/dev/null || true)
    [ -n "$_code" ] && break
    if [ "$_waited" -ge "$POD_TIMEOUT" ]; then _code=Timeout; break; fi
    sleep 2; _waited=$((_waited + 2))
  done
  kubectl -n "$NS" logs "$_pod" -c "$1" 2>&1 || true
  echo "EPHEMERAL_EXIT=$_code"
}

cidr_of() { case "$1" in *:*) printf '%s/128' "$1" ;; *) printf '%s/32' "$1" ;; esac; }
`;
