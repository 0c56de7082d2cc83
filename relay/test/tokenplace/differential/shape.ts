/**
 * The shape of an HTTP body, for comparing two relays without comparing values that are random or timed: a JSON
 * body becomes its recursive set of keys with the JSON type of each value; an array becomes the distinct shapes of
 * its elements; a body that is not JSON (an HTML error page, an empty body) is just "non-json".
 */
export type Shape =
  | 'string'
  | 'number'
  | 'boolean'
  | 'null'
  | 'non-json'
  | { object: Record<string, Shape> }
  | { array: Shape[] };

export function shapeOf(value: unknown): Shape {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const distinct = new Map<string, Shape>();
    for (const element of value) {
      const shape = shapeOf(element);
      distinct.set(formatShape(shape), shape);
    }
    return { array: [...distinct.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, shape]) => shape) };
  }
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'object': {
      const object: Record<string, Shape> = {};
      for (const key of Object.keys(value as object).sort()) object[key] = shapeOf((value as Record<string, unknown>)[key]);
      return { object };
    }
    default:
      throw new Error(`not a JSON value: ${typeof value}`);
  }
}

/** The shape of a response body as text; anything JSON.parse refuses, the empty body included, is "non-json". */
export function bodyShape(text: string): Shape {
  try {
    return shapeOf(JSON.parse(text));
  } catch {
    return 'non-json';
  }
}

/** One line per shape, keys sorted: `{error: {code: string, message: string}}`, `[string]`, `[]`. */
export function formatShape(shape: Shape): string {
  if (typeof shape === 'string') return shape;
  if ('array' in shape) return `[${shape.array.map(formatShape).join(' | ')}]`;
  const fields = Object.entries(shape.object).map(([key, value]) => `${key}: ${formatShape(value)}`);
  return `{${fields.join(', ')}}`;
}

export interface ShapeDifference {
  /** A JSON path such as `$.error.code`; `[]` stands for "every element". */
  where: string;
  reference: string;
  ours: string;
}

export const ABSENT = 'absent';

/** Where two shapes differ, as precisely as possible: a missing key or a changed type is reported at its own path. */
export function diffShapes(reference: Shape, ours: Shape, where = '$'): ShapeDifference[] {
  if (formatShape(reference) === formatShape(ours)) return [];
  if (isObject(reference) && isObject(ours)) {
    const keys = [...new Set([...Object.keys(reference.object), ...Object.keys(ours.object)])].sort();
    return keys.flatMap((key) => {
      const path = `${where}.${key}`;
      const left = reference.object[key];
      const right = ours.object[key];
      if (left === undefined) return [{ where: path, reference: ABSENT, ours: formatShape(right) }];
      if (right === undefined) return [{ where: path, reference: formatShape(left), ours: ABSENT }];
      return diffShapes(left, right, path);
    });
  }
  if (isArray(reference) && isArray(ours) && reference.array.length === 1 && ours.array.length === 1) {
    return diffShapes(reference.array[0], ours.array[0], `${where}[]`);
  }
  return [{ where, reference: formatShape(reference), ours: formatShape(ours) }];
}

function isObject(shape: Shape): shape is { object: Record<string, Shape> } {
  return typeof shape === 'object' && 'object' in shape;
}

function isArray(shape: Shape): shape is { array: Shape[] } {
  return typeof shape === 'object' && 'array' in shape;
}

/** Whether `where` is `prefix` itself or lies inside it (`$.error` covers `$.error.code` and `$.error[]`). */
export function pathWithin(where: string, prefix: string): boolean {
  return where === prefix || where.startsWith(`${prefix}.`) || where.startsWith(`${prefix}[`);
}
