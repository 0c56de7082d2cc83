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
 * `fetch_url URL SECONDS`: busybox wget with an outer time limit, printing wget's messages (and
 * "wget: download timed out" when the limit cut it off). Not `wget -T`: busybox 1.35 (Debian's, in
 * the local cluster's probe image) crashes with a segmentation fault in `wget -T` when the connection
 * fails, which would hide whether a NetworkPolicy refused it.
 */
export const FETCH_URL = `fetch_url() {
  _out=$(timeout "$2" wget -q -O- "$1" 2>&1); _rc=$?
  [ "$_rc" -eq 143 ] && _out="$_out
wget: download timed out"
  printf '%s\\n' "$_out"
  return "$_rc"
}
`;

/**
 * Runs inside probe pods and ephemeral containers (busybox).
 *
 * `probe NAME URL` asks once and prints `PROBE name=NAME rc=N tries=1`, then wget's output, each line
 * prefixed with "  | "; it returns wget's exit code. Negative probes (must be blocked) use it, and only
 * after their positive control passed.
 *
 * `probe_until NAME URL SECONDS` asks until the answer is a success or SECONDS have passed, and prints
 * the last attempt the same way with its number of tries. Positive controls use it: k3s's kube-router
 * admits a new pod's address only after the kubelet has reported it, and until then the target's chain
 * rejects the connection at once ("connection refused"), which would read as "blocked".
 */
export const IN_POD_PROBE = `${FETCH_URL}probe() {
  out=$(fetch_url "$2" 5); rc=$?
  printf 'PROBE name=%s rc=%s tries=1\\n' "$1" "$rc"
  printf '%s\\n' "$out" | head -n 20 | sed 's/^/  | /'
  return "$rc"
}
probe_until() {
  _until=$(( $(date +%s) + $3 )); _tries=0
  while :; do
    _tries=$((_tries + 1))
    out=$(fetch_url "$2" 5); rc=$?
    [ "$rc" -eq 0 ] && break
    [ "$(date +%s)" -ge "$_until" ] && break
    sleep 1
  done
  printf 'PROBE name=%s rc=%s tries=%s\\n' "$1" "$rc" "$_tries"
  printf '%s\\n' "$out" | head -n 20 | sed 's/^/  | /'
  return "$rc"
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

# wait_pod_ip NAMESPACE POD: returns non-zero unless the pod is Running with an IP within $POD_TIMEOUT seconds.
wait_pod_ip() {
  _waited=0
  until [ "$(kubectl -n "$1" get pod "$2" -o jsonpath='{.status.phase} {.status.podIP}' 2>/dev/null | grep -c '^Running [0-9a-fA-F]')" = 1 ]; do
    [ "$_waited" -ge "$POD_TIMEOUT" ] && return 1
    sleep 1; _waited=$((_waited + 1))
  done
}

# client_pod NAMESPACE NAME: a busybox pod that only sleeps, Running and with an IP, so probes run in
# it with kubectl exec after the pod's address is known. Prints POD_PHASE=...; non-zero when it never ran.
client_pod() {
  kubectl -n "$1" delete pod "$2" --ignore-not-found --wait=true >/dev/null 2>&1 || true
  if ! kubectl -n "$1" run "$2" --image="$PROBE_IMAGE" --image-pull-policy=IfNotPresent --restart=Never \\
    --labels=${Object.entries(PROBE_POD_LABELS)
      .map(([key, value]) => `${key}=${value}`)
      .join(',')} --command -- sleep 3600 >/dev/null; then
    echo "POD_PHASE=CreateFailed"; return 1
  fi
  if ! wait_pod_ip "$1" "$2"; then
    echo "POD_PHASE=Timeout($(kubectl -n "$1" get pod "$2" -o jsonpath='{.status.phase}' 2>/dev/null || true))"
    kubectl -n "$1" describe pod "$2" 2>&1 | tail -n 15 || true
    return 1
  fi
  echo "POD_PHASE=Running"
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

# probe_pod NAMESPACE NAME SCRIPT: client_pod, SCRIPT run in it by kubectl exec, the pod deleted.
probe_pod() {
  if client_pod "$1" "$2"; then
    kubectl -n "$1" exec "$2" -- sh -c "$3" 2>&1
    echo "EXEC_EXIT=$?"
  fi
  kubectl -n "$1" delete pod "$2" --ignore-not-found --wait=false >/dev/null 2>&1 || true
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
