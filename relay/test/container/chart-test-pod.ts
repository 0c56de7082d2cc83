/**
 * The chart's `helm test` pod, rendered with real helm, as a `docker run` of the image under test: the
 * container's `command` replaces the image's entry point (Kubernetes ignores the image's ENTRYPOINT and
 * CMD when `command` is set and `args` is not), with the pod's user, read-only root, tmpfs mounts, no
 * capabilities and no privilege gain.
 */
import { findHelm } from '../../../chart/tests/helm-binary.ts';
import { findOne, HTTP_UPSTREAM_VALUES, type K8sObject, renderObjects } from '../../../chart/tests/render.ts';

// biome-ignore lint/suspicious/noExplicitAny: parsed manifests.
type Any = any;

/** `repo:tag` or `host:port/repo:tag` → [repository, tag]. */
export function splitImageTag(image: string): [string, string] {
  const at = image.lastIndexOf(':');
  if (at <= 0 || image.slice(at).includes('/')) throw new Error(`image ${JSON.stringify(image)} has no tag`);
  return [image.slice(0, at), image.slice(at + 1)];
}

/** The test pod of a release that runs `image` (chart defaults plus the required values). */
export async function renderTestPod(image: string): Promise<K8sObject> {
  const [repository, tag] = splitImageTag(image);
  const objects = await renderObjects(await findHelm(4), {
    values: [HTTP_UPSTREAM_VALUES, { image: { repository, tag } }],
  });
  return findOne(objects, 'Pod');
}

export interface TestPodRun {
  /** The image the pod's container names. */
  image: string;
  /** `docker run` arguments up to, not including, the image. */
  options: string[];
  /** Arguments after the image (the command without its first word). */
  args: string[];
}

/**
 * How to run the test pod's only container with docker. `env` replaces pod env values (the pod's
 * RELAY_URL names a Service that exists only in a cluster).
 */
export function testPodRun(pod: K8sObject, env: Record<string, string> = {}): TestPodRun {
  const containers = pod.spec.containers as Any[];
  if (containers.length !== 1) throw new Error(`expected one test container, found ${containers.length}`);
  const [container] = containers;
  if (container.args !== undefined) throw new Error('the test container has args: not modelled here');
  const [executable, ...args] = container.command as string[];
  const podSc = pod.spec.securityContext ?? {};
  const sc = container.securityContext ?? {};
  const user = sc.runAsUser ?? podSc.runAsUser;
  const group = sc.runAsGroup ?? podSc.runAsGroup;
  const options: string[] = [];
  if (user !== undefined) options.push('--user', group === undefined ? String(user) : `${user}:${group}`);
  if (sc.readOnlyRootFilesystem) options.push('--read-only');
  const emptyDirs = new Set(
    (pod.spec.volumes ?? []).filter((v: Any) => v.emptyDir !== undefined).map((v: Any) => v.name as string),
  );
  for (const mount of container.volumeMounts ?? []) {
    if (!emptyDirs.has(mount.name)) throw new Error(`volume ${mount.name} is not an emptyDir: not modelled here`);
    options.push('--tmpfs', mount.mountPath);
  }
  if ((sc.capabilities?.drop ?? []).includes('ALL')) options.push('--cap-drop', 'ALL');
  if (sc.allowPrivilegeEscalation === false) options.push('--security-opt', 'no-new-privileges');
  for (const variable of container.env ?? []) {
    const value = env[variable.name] ?? variable.value;
    if (value === undefined) throw new Error(`env ${variable.name} has no plain value: not modelled here`);
    options.push('--env', `${variable.name}=${value}`);
  }
  options.push('--entrypoint', executable);
  return { image: container.image, options, args };
}
