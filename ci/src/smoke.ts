/** The container smoke test: what to ask the running image and how to judge the answers. */
import { fail, pass, type Verdict } from './cluster/judge.ts';

export interface SmokeRequest {
  name: string;
  path: string;
  status: number;
  /** Every pattern must match the body. */
  body: RegExp[];
}

export const SMOKE_REQUESTS: readonly SmokeRequest[] = [
  { name: 'healthz', path: '/healthz', status: 200, body: [] },
  { name: 'livez', path: '/livez', status: 200, body: [] },
  // Forwarded through the relay to the stand-in GPU server bound as gpu-server.
  { name: 'models', path: '/v1/models', status: 200, body: [/"id"\s*:\s*"stand-in"/] },
  {
    name: 'metrics',
    path: '/metrics',
    status: 200,
    body: [/^# TYPE tokenplace_relay_requests_total counter$/m, /^tokenplace_relay_requests_total\{/m, /^process_open_fds \d+/m],
  },
];

/**
 * A curl script for the client container: waits up to `readySeconds` for /healthz to answer 200,
 * then prints `HTTP name=… status=…` and the body (prefixed "  | ") for each request.
 */
export function smokeScript(baseUrl: string, readySeconds = 60): string {
  if (!/^http:\/\/[a-z0-9.-]+:\d+$/.test(baseUrl))
    throw new Error(`smoke: base URL ${JSON.stringify(baseUrl)} must be http://host:port`);
  const requests = SMOKE_REQUESTS.map(
    (r) => `code=$(curl -sS -o "$body" -w '%{http_code}' --max-time 10 "${baseUrl}${r.path}" 2>"$err") || code=000
echo "HTTP name=${r.name} status=$code"
# awk ends an unterminated last line, so the next HTTP header starts on its own line.
cat "$body" "$err" | head -n 400 | awk '{ print "  | " $0 }'`,
  ).join('\n');
  return `set -u
body=$(mktemp); err=$(mktemp)
trap 'rm -f "$body" "$err"' EXIT
waited=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${baseUrl}/healthz")" = 200 ]; do
  [ "$waited" -ge ${readySeconds} ] && break
  sleep 1; waited=$((waited + 1))
done
${requests}
`;
}

export function parseSmoke(output: string): Map<string, { status: number; body: string }> {
  const found = new Map<string, { status: number; body: string }>();
  let current: { status: number; body: string } | undefined;
  for (const line of output.split('\n')) {
    const head = /^HTTP name=(\S+) status=(\d+)\s*$/.exec(line);
    if (head) {
      current = { status: Number(head[2]), body: '' };
      found.set(head[1], current);
    } else if (current && line.startsWith('  | ')) {
      current.body += `${line.slice(4)}\n`;
    } else {
      current = undefined;
    }
  }
  return found;
}

export function judgeSmoke(output: string): Verdict {
  const answers = parseSmoke(output);
  for (const request of SMOKE_REQUESTS) {
    const answer = answers.get(request.name);
    if (!answer) return fail(`GET ${request.path}: no answer recorded`);
    if (answer.status !== request.status) {
      return fail(
        `GET ${request.path}: status ${answer.status}, expected ${request.status}: ${answer.body.trim().slice(0, 200)}`,
      );
    }
    const missing = request.body.find((pattern) => !pattern.test(answer.body));
    if (missing) return fail(`GET ${request.path}: body does not match ${missing}`);
  }
  return pass(`${SMOKE_REQUESTS.map((r) => r.path).join(', ')} answered as expected`);
}

export function judgeLabels(actual: Record<string, string | undefined>, expected: Record<string, string>): Verdict {
  const wrong = Object.entries(expected).filter(([name, value]) => actual[name] !== value);
  if (wrong.length > 0) {
    return fail(
      `image labels differ: ${wrong.map(([name, value]) => `${name}=${JSON.stringify(actual[name] ?? null)} (expected ${JSON.stringify(value)})`).join('; ')}`,
    );
  }
  return pass(`${Object.keys(expected).length} OCI labels as built`);
}
