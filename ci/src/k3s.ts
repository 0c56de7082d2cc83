/**
 * A throw-away k3s cluster and an image registry as Dagger services, written on Dagger's core API.
 * Only wiring lives here; what is checked lives in cluster/ (plain TypeScript, unit-tested).
 */
import { type Container, type Directory, dag, type File, type Platform, ReturnType, type Service } from '@dagger.io/dagger';
import type { CommandOutput } from './cluster/judge.ts';
import type { ScriptRunner } from './cluster/run.ts';
import { IMAGES } from './images.ts';
import {
  CGROUP_ENTRYPOINT,
  DOCKER_HUB_URL,
  HUB_MIRROR_HOST,
  K3S_OUT_DIR,
  k3sKubeconfigPath,
  k3sLogPath,
  k3sServerArgs,
  REGISTRY_HOST,
  registriesYaml,
} from './k3s-setup.ts';

export { REGISTRY_HOST };

export function registryService(): Service {
  return dag.container().from(IMAGES.registry).withExposedPort(5000).asService({ useEntrypoint: true });
}

/** Docker Hub through a pull-through cache kept in a Dagger cache volume (see HUB_MIRROR_HOST). */
export function hubMirrorService(): Service {
  return dag
    .container()
    .from(IMAGES.registry)
    .withEnvVariable('REGISTRY_PROXY_REMOTEURL', DOCKER_HUB_URL)
    .withMountedCache('/var/lib/registry', dag.cacheVolume('tokenplace-relay-dockerhub-mirror'))
    .withExposedPort(5000)
    .asService({ useEntrypoint: true });
}

/** kubectl, helm, curl, sh, and crane; `platform` as for `dag.container` (the engine's own when omitted). */
export function toolbox(platform?: string): Container {
  return dag
    .container(platform ? { platform: platform as Platform } : {})
    .from(IMAGES.k8sTools)
    .withFile('/usr/local/bin/crane', dag.container().from(IMAGES.crane).file('/ko-app/crane'), { permissions: 0o755 })
    .withoutEntrypoint();
}

/** Pushes an image (as an OCI tarball) to the in-pipeline registry; returns the reference k3s pulls. */
export async function pushToRegistry(registry: Service, image: File, name: string, tag: string, runId: string): Promise<string> {
  const reference = `${REGISTRY_HOST}/${name}:${tag}`;
  await toolbox()
    .withServiceBinding('registry', registry)
    .withMountedFile('/images/image.tar', image)
    .withEnvVariable('E2E_RUN', runId)
    .withExec(['sh', '-c', `mkdir -p /oci && tar -xf /images/image.tar -C /oci && crane push --insecure /oci '${reference}'`])
    .sync();
  return reference;
}

/** The k3s server; `bindings` are further services it reaches by name (e.g. the GPU host outside the cluster). */
export function k3sServer(registry: Service, runId: string, bindings: Record<string, Service> = {}): Service {
  let ctr = dag.container().from(IMAGES.k3s);
  for (const [alias, service] of Object.entries(bindings)) ctr = ctr.withServiceBinding(alias, service);
  return (
    ctr
      .withNewFile('/usr/local/bin/e2e-entrypoint', CGROUP_ENTRYPOINT, { permissions: 0o755 })
      .withEntrypoint(['/usr/local/bin/e2e-entrypoint'])
      .withNewFile('/etc/rancher/k3s/registries.yaml', registriesYaml())
      .withServiceBinding('registry', registry)
      .withServiceBinding(HUB_MIRROR_HOST.split(':')[0], hubMirrorService())
      .withMountedCache(K3S_OUT_DIR, dag.cacheVolume('tokenplace-relay-e2e-kubeconfig'))
      .withEnvVariable('E2E_OUT_DIR', `${K3S_OUT_DIR}/${runId}`)
      // Fresh, non-overlay state for every run: containerd's overlay snapshots cannot sit on overlayfs.
      .withMountedTemp('/var/lib/rancher')
      .withMountedTemp('/var/lib/kubelet')
      .withMountedTemp('/var/lib/cni')
      .withMountedTemp('/var/log')
      .withEnvVariable('E2E_RUN', runId)
      .withExposedPort(6443)
      // Not noInit: Dagger's own k3s test keeps Dagger's init and fixes cgroups in the entry point, as here.
      .asService({
        args: k3sServerArgs(runId),
        useEntrypoint: true,
        insecureRootCapabilities: true,
      })
  );
}

/** The tool box, bound to the cluster, with a kubeconfig that names the service. */
export async function clusterClient(
  k3s: Service,
  registry: Service,
  chart: Directory,
  examples: Directory,
  runId: string,
  bindings: Record<string, Service> = {},
): Promise<Container> {
  let box = toolbox();
  for (const [alias, service] of Object.entries(bindings)) box = box.withServiceBinding(alias, service);
  return box
    .withServiceBinding('k3s', k3s)
    .withServiceBinding('registry', registry)
    .withMountedCache(K3S_OUT_DIR, dag.cacheVolume('tokenplace-relay-e2e-kubeconfig'))
    .withDirectory('/src/chart', chart)
    .withDirectory('/src/examples', examples)
    .withEnvVariable('KUBECONFIG', '/root/.kube/config')
    .withEnvVariable('E2E_RUN', runId)
    .withExec([
      'sh',
      '-c',
      `waited=0
until [ -s ${k3sKubeconfigPath(runId)} ]; do
  if [ "$waited" -ge 180 ]; then
    echo "k3s wrote no kubeconfig in 180s; the end of its log:" >&2
    tail -n 60 ${k3sLogPath(runId)} >&2 || echo "(no log at ${k3sLogPath(runId)})" >&2
    exit 1
  fi
  sleep 1; waited=$((waited + 1))
done
mkdir -p /root/.kube
sed 's#https://127.0.0.1:6443#https://k3s:6443#' ${k3sKubeconfigPath(runId)} > /root/.kube/config`,
    ])
    .sync();
}

/** Runs each step's script in the bound tool box; exit codes are data for the judge, not errors. */
export function daggerScriptRunner(client: Container): ScriptRunner {
  return async (stepId: string, script: string): Promise<CommandOutput> => {
    const done = await client
      .withEnvVariable('E2E_STEP', stepId)
      .withExec(['sh', '-c', script], { expect: ReturnType.Any })
      .sync();
    const [exitCode, stdout, stderr] = await Promise.all([done.exitCode(), done.stdout(), done.stderr()]);
    return { exitCode, stdout, stderr };
  };
}
