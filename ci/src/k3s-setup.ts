/**
 * The plain parts of the k3s service (no Dagger import, so they are unit-tested): its entry point,
 * its arguments and where it writes its kubeconfig and log.
 */

/** Mounted (a cache volume) in both the k3s service and the tool box that talks to it. */
export const K3S_OUT_DIR = '/k3s-out';

export function k3sKubeconfigPath(runId: string): string {
  return `${K3S_OUT_DIR}/${runId}/k3s.yaml`;
}

/** k3s's own log, also read by the tool box when a setup step fails. */
export function k3sLogPath(runId: string): string {
  return `${K3S_OUT_DIR}/${runId}/k3s.log`;
}

/**
 * The entry point of the k3s container. Under Dagger's init k3s is not PID 1, so it does not set up
 * nested cgroups (v2) itself: this moves the processes of the root group into a child group and
 * delegates every controller, as Dagger's own k3s test does (moby's dind fix). Unlike a silent
 * `|| true`, it reports each step that fails and stops, printing the controllers, unless `cpu` and
 * `memory` ended up delegated (the kubelet needs both). `CGROUP_ROOT` is for tests only.
 */
export const CGROUP_ENTRYPOINT = `#!/bin/sh
set -eu
cg=\${CGROUP_ROOT:-/sys/fs/cgroup}
if [ -n "\${E2E_OUT_DIR:-}" ]; then mkdir -p "$E2E_OUT_DIR"; fi
if [ -f "$cg/cgroup.controllers" ]; then
  mkdir -p "$cg/init"
  # A group that holds processes cannot delegate controllers (EBUSY): empty the root group first.
  while read -r pid; do
    echo "$pid" > "$cg/init/cgroup.procs" 2>/dev/null || echo "cgroup v2: could not move pid $pid out of the root group" >&2
  done < "$cg/cgroup.procs"
  wanted=$(sed -e 's/^ *//' -e 's/ *$//' -e 's/  */ +/g' -e 's/^/+/' "$cg/cgroup.controllers")
  if ! echo "$wanted" > "$cg/cgroup.subtree_control"; then
    echo "cgroup v2: could not enable '$wanted' in cgroup.subtree_control" >&2
  fi
  for needed in cpu memory; do
    if ! grep -qw "$needed" "$cg/cgroup.subtree_control"; then
      echo "cgroup v2: controller '$needed' is not delegated, so the kubelet cannot run pods." >&2
      echo "cgroup.controllers: $(cat "$cg/cgroup.controllers")" >&2
      echo "cgroup.subtree_control: $(cat "$cg/cgroup.subtree_control")" >&2
      exit 1
    fi
  done
  echo "cgroup v2: delegated $(cat "$cg/cgroup.subtree_control")" >&2
fi
exec "$@"
`;

/** The in-pipeline registry the built images (relay, stand-in, busybox) are pushed to. */
export const REGISTRY_HOST = 'registry:5000';

/**
 * A pull-through cache of Docker Hub (`registry:3` in proxy mode) whose storage is a Dagger cache
 * volume: k3s's system images (pause, CoreDNS, …) come from Docker Hub once per engine, not once per run.
 */
export const HUB_MIRROR_HOST = 'hub-mirror:5000';
export const DOCKER_HUB_URL = 'https://registry-1.docker.io';

/**
 * containerd's registries.yaml in k3s: the in-pipeline registry over plain HTTP, and docker.io through
 * the pull-through cache first (containerd falls back to Docker Hub itself if the mirror fails).
 */
export function registriesYaml(registryHost = REGISTRY_HOST, hubMirrorHost = HUB_MIRROR_HOST): string {
  return `mirrors:
  "${registryHost}":
    endpoint:
      - "http://${registryHost}"
  "docker.io":
    endpoint:
      - "http://${hubMirrorHost}"
`;
}

/** `k3s server` arguments: Traefik and metrics-server off, the service name in the certificate, logs to a file too. */
export function k3sServerArgs(runId: string): string[] {
  return [
    'k3s',
    'server',
    '--disable=traefik',
    '--disable=metrics-server',
    '--tls-san=k3s',
    '--node-name=e2e',
    '--egress-selector-mode=disabled',
    `--write-kubeconfig=${k3sKubeconfigPath(runId)}`,
    '--write-kubeconfig-mode=0644',
    `--log=${k3sLogPath(runId)}`,
    '--alsologtostderr',
  ];
}
