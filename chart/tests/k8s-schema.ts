/**
 * Strict validation of rendered Kubernetes objects.
 *
 * Types, enums and required fields come from the validators that `kubernetes-models` (core API) and
 * `@kubernetes-models/prometheus-operator` (ServiceMonitor, PrometheusRule CRDs) generate from the
 * OpenAPI schemas. Those schemas allow unknown fields, which the API server rejects under strict
 * field validation (and `kubectl apply` warns about), so this module adds that check: it runs the
 * generated validator on a proxy of the object and records which properties the validator looks up
 * on each object node. A property the schema knows is always looked up; a map (labels, annotations,
 * resource lists) is enumerated instead. Any own property of a non-map node that the validator never
 * looked up is a field the schema does not define, and is reported.
 */
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { EndpointSlice } from 'kubernetes-models/discovery.k8s.io/v1/EndpointSlice';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

/**
 * The kinds the chart may render, each at an API version Kubernetes 1.31 (the chart's kubeVersion
 * floor) serves. Anything else is an error.
 */
const MODELS: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'discovery.k8s.io/v1/EndpointSlice': EndpointSlice,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

export const KNOWN_KINDS: readonly string[] = Object.keys(MODELS);

interface NodeRecord {
  path: string;
  value: object;
  read: Set<string>;
  enumerated: boolean;
}

/** Wraps `root` so every property lookup and key enumeration on every nested object is recorded. */
function traceLookups(root: object): { proxy: object; nodes: NodeRecord[] } {
  const nodes: NodeRecord[] = [];
  const wrap = (value: object, path: string): object => {
    const record: NodeRecord = { path, value, read: new Set(), enumerated: false };
    nodes.push(record);
    const children = new Map<string, object>();
    return new Proxy(value, {
      get(target, key, receiver) {
        const child: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== 'string') return child;
        record.read.add(key);
        if (child === null || typeof child !== 'object') return child;
        let wrapped = children.get(key);
        if (!wrapped) {
          wrapped = wrap(child, `${path}/${key}`);
          children.set(key, wrapped);
        }
        return wrapped;
      },
      ownKeys(target) {
        record.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
  };
  return { proxy: wrap(root, ''), nodes };
}

function unknownFields(nodes: readonly NodeRecord[]): string[] {
  const found: string[] = [];
  for (const node of nodes) {
    if (Array.isArray(node.value) || node.enumerated) continue;
    for (const key of Object.keys(node.value)) {
      if (!node.read.has(key)) found.push(`${node.path}/${key}`);
    }
  }
  return found;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Name and label rules the API server enforces beyond the OpenAPI schema. */
function metadataProblems(kind: string, metadata: Record<string, unknown> | undefined): string[] {
  const problems: string[] = [];
  const name = metadata?.name;
  if (typeof name !== 'string' || name === '') return ['metadata.name is missing'];
  const nameOk =
    kind === 'Service' ? DNS_1035_LABEL.test(name) && name.length <= 63 : DNS_SUBDOMAIN.test(name) && name.length <= 253;
  if (!nameOk) problems.push(`metadata.name ${JSON.stringify(name)} is not a valid ${kind} name`);
  const labels = (metadata?.labels ?? {}) as Record<string, string>;
  for (const [key, value] of Object.entries(labels)) {
    const keyName = key.split('/').at(-1) ?? '';
    if (!LABEL_NAME.test(key) || keyName.length > 63) problems.push(`label key ${JSON.stringify(key)} is invalid`);
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      problems.push(`label ${key} has an invalid value ${JSON.stringify(value)}`);
    }
  }
  return problems;
}

/** Every problem with one rendered object; empty when it is valid. */
export function validateObject(object: unknown): string[] {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return ['not an object'];
  const { apiVersion, kind, metadata } = object as { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown> };
  const id = `${String(apiVersion)}/${String(kind)}`;
  const Model = MODELS[id];
  if (!Model) return [`${id} is not a kind this chart may render (known: ${KNOWN_KINDS.join(', ')})`];

  const problems: string[] = [];
  // The constructor copies the data; validate the copy through the tracing proxy.
  const model = new Model(object as never);
  const { proxy, nodes } = traceLookups(model);
  try {
    model.validate.call(proxy);
  } catch (error) {
    problems.push(`schema: ${(error as Error).message}`);
  }
  for (const field of unknownFields(nodes)) problems.push(`unknown field ${field}`);
  problems.push(...metadataProblems(String(kind), metadata));
  return problems;
}
