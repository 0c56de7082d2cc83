/**
 * What a compute node says it can do, checked with relay.py's rules and bounds so that the
 * scheduler only ever sees well-formed values.
 */
import { CONTEXT_TIER_TOKENS, DEFAULT_CONTEXT_TIER } from './wire.ts';

export interface Capabilities {
  api_version: 'v1';
  supported_model_ids: string[];
  active_context_tier: string;
  maximum_total_context_tokens: number;
  default_output_token_reservation: number;
  maximum_output_tokens: number;
  max_concurrency: number;
  backend_class: string;
}

const MAX_MODEL_IDS = 64;
const BACKEND_CLASSES = new Set(['cpu', 'cuda', 'metal', 'vulkan', 'gpu', 'unknown']);

/** A node that registers without capabilities is listed but matches no model until it reports some. */
export function defaultCapabilities(): Capabilities {
  return {
    api_version: 'v1',
    supported_model_ids: [],
    active_context_tier: DEFAULT_CONTEXT_TIER,
    maximum_total_context_tokens: CONTEXT_TIER_TOKENS[DEFAULT_CONTEXT_TIER],
    default_output_token_reservation: 1024,
    maximum_output_tokens: 1024,
    max_concurrency: 1,
    backend_class: 'unknown',
  };
}

function modelIds(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_MODEL_IDS) return undefined;
  const ids: string[] = [];
  for (const item of value) {
    if (typeof item !== 'string') return undefined;
    const id = item.trim().toLowerCase();
    if (id === '' || id.length > 128) return undefined;
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

function positiveInt(value: unknown, max = 1_000_000): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max ? value : undefined;
}

/** Python's `a or b`: the first value that is not empty, zero, false or missing. */
function firstTruthy(first: unknown, second: unknown): unknown {
  if (first === undefined || first === null || first === '' || first === false || first === 0) return second;
  if (Array.isArray(first) && first.length === 0) return second;
  if (typeof first === 'object' && Object.keys(first as object).length === 0) return second;
  return first;
}

export type CapabilityCheck = { ok: true; capabilities: Capabilities } | { ok: false; message: string };

export function normaliseCapabilities(value: unknown): CapabilityCheck {
  if (value === undefined || value === null) return { ok: true, capabilities: defaultCapabilities() };
  if (typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: 'capabilities must be an object' };
  const input = value as Record<string, unknown>;
  const apiVersion = 'api_version' in input ? input.api_version : 'v1';
  if (apiVersion !== 'v1' && apiVersion !== 1) return { ok: false, message: 'capabilities.api_version must be v1' };

  const rawTier = firstTruthy(input.active_context_tier, input.context_tier);
  if (typeof rawTier !== 'string') return { ok: false, message: 'capabilities.active_context_tier must be a string' };
  const tier = rawTier.trim();
  if (!(tier in CONTEXT_TIER_TOKENS)) return { ok: false, message: 'capabilities.active_context_tier is unsupported' };

  const models = modelIds(firstTruthy(input.supported_model_ids, input.model_ids));
  if (models === undefined) return { ok: false, message: 'capabilities.supported_model_ids must be a non-empty string list' };

  const context = positiveInt(input.maximum_total_context_tokens);
  if (context === undefined) {
    return { ok: false, message: 'capabilities.maximum_total_context_tokens must be a positive integer' };
  }
  if (context < CONTEXT_TIER_TOKENS[tier]) {
    return { ok: false, message: 'capabilities.maximum_total_context_tokens is below the active tier' };
  }
  const reservation = positiveInt(input.default_output_token_reservation);
  const maxOutput = positiveInt(input.maximum_output_tokens);
  const concurrency = positiveInt(input.max_concurrency, 128);
  if (reservation === undefined || maxOutput === undefined || concurrency === undefined) {
    return { ok: false, message: 'capability token reservations and concurrency must be positive integers' };
  }
  if (reservation > maxOutput) return { ok: false, message: 'default output reservation cannot exceed maximum output tokens' };

  const rawBackend = 'backend_class' in input ? input.backend_class : 'unknown';
  if (typeof rawBackend !== 'string') return { ok: false, message: 'capabilities.backend_class must be a string' };
  const backend = rawBackend.trim().toLowerCase() || 'unknown';
  return {
    ok: true,
    capabilities: {
      api_version: 'v1',
      supported_model_ids: models,
      active_context_tier: tier,
      maximum_total_context_tokens: context,
      default_output_token_reservation: reservation,
      maximum_output_tokens: maxOutput,
      max_concurrency: concurrency,
      backend_class: BACKEND_CLASSES.has(backend) ? backend : 'unknown',
    },
  };
}
