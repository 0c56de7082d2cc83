/**
 * Every example values file in docs/examples (`*values*.yaml`), rendered by helm against the cluster's own capabilities
 * and sent to the API server as a server-side apply dry run with strict field validation, in a
 * namespace that enforces and warns on Pod Security "restricted". Nothing is created; any error or
 * warning (an unknown field, a PodSecurity violation, a deprecated API) fails the check.
 */

import type { ClusterStep } from './checks.ts';
import { type CommandOutput, fail, pass, tail, type Verdict } from './judge.ts';
import { shExports } from './shell.ts';

export const EXAMPLES_NAMESPACE = 'e2e-examples';

export const examplesStrictApply: ClusterStep = {
  id: 'examples-strict-apply',
  title: 'every example values file: server-side apply dry run, strict validation, PodSecurity restricted, no warning',
  kind: 'check',
  body: (s) => `${shExports({ EXAMPLES: s.examplesPath, EX_NS: EXAMPLES_NAMESPACE })}
kubectl create namespace "$EX_NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null || exit 1
kubectl label --overwrite namespace "$EX_NS" pod-security.kubernetes.io/enforce=restricted \\
  pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/audit=restricted >/dev/null || exit 1
# Rendered for the cluster's own version (the chart's kubeVersion is checked against it).
server_version=$(kubectl version -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\\(v[^"]*\\)".*/\\1/p' | tail -n 1)
echo "SERVER_VERSION=$server_version"
errors="\${TMPDIR:-/tmp}/e2e-examples-$RUN_ID.err"
n=0
for f in "$EXAMPLES"/*values*.yaml; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  name=$(basename "$f")
  if ! rendered=$(helm template "example-$n" "$CHART" --namespace "$EX_NS" --kube-version "$server_version" -f "$f" 2>"$errors"); then
    echo "EXAMPLE file=$name rc=render warnings=0"
    tail -n 20 "$errors" | sed 's/^/  | /'
    continue
  fi
  out=$(printf '%s\\n' "$rendered" | kubectl apply --namespace "$EX_NS" --server-side --dry-run=server \\
    --validate=strict --field-manager=e2e-examples -f - 2>&1); rc=$?
  warnings=$(printf '%s\\n' "$out" | grep -c '^Warning:')
  echo "EXAMPLE file=$name rc=$rc warnings=$warnings"
  printf '%s\\n' "$out" | head -n 40 | sed 's/^/  | /'
done
echo "EXAMPLES_SEEN=$n"
rm -f "$errors"
kubectl delete namespace "$EX_NS" --wait=false >/dev/null 2>&1 || true
`,
  judge: (out) => judgeExamples(out),
};

export function judgeExamples(out: CommandOutput): Verdict {
  const seen = Number(/^EXAMPLES_SEEN=(\d+)$/m.exec(out.stdout)?.[1] ?? 0);
  if (out.exitCode !== 0 && seen === 0) return fail(`could not prepare the namespace: ${tail(out, 4).replace(/\n/g, ' | ')}`);
  if (seen === 0) return fail('no example values file found');
  const lines = [...out.stdout.matchAll(/^EXAMPLE file=(\S+) rc=(\S+) warnings=(\d+)$/gm)];
  const bad = lines.filter(([, , rc, warnings]) => rc !== '0' || warnings !== '0');
  if (lines.length !== seen) return fail(`${lines.length} results for ${seen} example files`);
  if (bad.length > 0) {
    const first = bad[0];
    const detail = out.stdout
      .slice(out.stdout.indexOf(first[0]) + first[0].length)
      .split('\n')
      .filter((line) => line.startsWith('  | '))
      .slice(0, 3)
      .map((line) => line.slice(4))
      .join(' | ');
    return fail(
      `${bad.map(([, file, rc, w]) => `${file} (${rc === 'render' ? 'helm template failed' : `apply exit ${rc}`}, ${w} warnings)`).join(', ')}: ${detail}`,
    );
  }
  return pass(`${seen} example files accepted, no warning`);
}
