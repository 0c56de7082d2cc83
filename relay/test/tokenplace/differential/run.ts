import { bodyShape, type Shape } from './shape.ts';
import { isBodyBuilder, type Memory, type Step } from './step.ts';

/** What one relay answered to one step, reduced to what is compared, plus the raw body for reading a failure. */
export interface Observation {
  step: string;
  request: string;
  status: number;
  shape: Shape;
  /** Compared header values, `absent` when not sent. */
  headers: Record<string, string>;
  /** Values at VALUE_PATHS, JSON-encoded, `absent` when the path is not in the body. */
  values: Record<string, string>;
  body: string;
}

/** Always compared: browsers depend on this one for every public route. */
const ALWAYS_COMPARED_HEADERS = ['access-control-allow-origin'];

/**
 * Fields whose values are fixed words or flags rather than random or timed data, so they are compared as values,
 * not only as types: a client or node that branches on them would notice a different word.
 */
export const VALUE_PATHS = [
  '$.status',
  '$.error.code',
  '$.error.status',
  '$.removed',
  '$.removed_from_queue',
  '$.request_id',
  '$.e2ee_v1',
  '$.spillover',
];

export async function runScript(baseUrl: string, steps: Step[], serverToken: string): Promise<Observation[]> {
  const memory: Memory = { credentials: new Map() };
  const observations: Observation[] = [];
  for (const step of steps) {
    const init = requestFor(step, memory, serverToken);
    const response = await fetch(`${baseUrl}${step.path}`, { ...init, signal: AbortSignal.timeout(10_000) });
    const body = await response.text();
    const answer = parseOrUndefined(body);
    step.remember?.(memory, answer);
    const compared = [...ALWAYS_COMPARED_HEADERS, ...(step.compareHeaders ?? [])];
    observations.push({
      step: step.name,
      request: `${step.method} ${step.path}`,
      status: response.status,
      shape: bodyShape(body),
      headers: Object.fromEntries(compared.map((name) => [name, response.headers.get(name) ?? 'absent'])),
      values: Object.fromEntries(VALUE_PATHS.map((path) => [path, valueAt(answer, path)])),
      body,
    });
  }
  return observations;
}

function requestFor(step: Step, memory: Memory, serverToken: string): RequestInit {
  const headers: Record<string, string> = { ...step.headers };
  if (step.token !== undefined) headers['X-Relay-Server-Token'] = step.token === true ? serverToken : step.token;
  let body: string | undefined;
  if (step.raw) {
    body = step.raw.body;
    headers['Content-Type'] = step.raw.contentType;
  } else if (step.json !== undefined) {
    body = JSON.stringify(isBodyBuilder(step.json) ? step.json(memory) : step.json);
    headers['Content-Type'] = 'application/json';
  }
  return { method: step.method, headers, body };
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function valueAt(answer: unknown, path: string): string {
  let value: unknown = answer;
  for (const key of path.split('.').slice(1)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !(key in value)) return 'absent';
    value = (value as Record<string, unknown>)[key];
  }
  return JSON.stringify(value);
}
