/**
 * The Pod Security Standard "restricted" (Kubernetes 1.31: baseline controls plus restricted ones),
 * checked on a pod spec. Returns one message per violation; empty when the spec complies.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */

// biome-ignore lint/suspicious/noExplicitAny: pod specs come from parsed YAML.
type Spec = Record<string, any>;

const ALLOWED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const ALLOWED_SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

export function restrictedViolations(podSpec: Spec): string[] {
  const problems: string[] = [];
  const pod = podSpec.securityContext ?? {};
  const containers: Array<[string, Spec]> = [
    ...(podSpec.initContainers ?? []).map((c: Spec) => [`initContainer ${c.name}`, c] as [string, Spec]),
    ...(podSpec.containers ?? []).map((c: Spec) => [`container ${c.name}`, c] as [string, Spec]),
    ...(podSpec.ephemeralContainers ?? []).map((c: Spec) => [`ephemeralContainer ${c.name}`, c] as [string, Spec]),
  ];
  if (containers.length === 0) problems.push('pod has no containers');

  // Baseline.
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) if (podSpec[field]) problems.push(`${field} is true`);
  if (podSpec.securityContext?.windowsOptions?.hostProcess) problems.push('pod windowsOptions.hostProcess is true');
  for (const sysctl of pod.sysctls ?? []) if (!SAFE_SYSCTLS.has(sysctl.name)) problems.push(`unsafe sysctl ${sysctl.name}`);
  if (pod.appArmorProfile && pod.appArmorProfile.type === 'Unconfined') problems.push('pod AppArmor profile is Unconfined');
  if (pod.seLinuxOptions && !ALLOWED_SELINUX_TYPES.has(pod.seLinuxOptions.type ?? ''))
    problems.push('pod SELinux type not allowed');
  if (pod.seLinuxOptions?.user || pod.seLinuxOptions?.role) problems.push('pod sets SELinux user or role');

  // Restricted: volume types.
  for (const volume of podSpec.volumes ?? []) {
    const types = Object.keys(volume).filter((key) => key !== 'name');
    for (const type of types) if (!ALLOWED_VOLUME_TYPES.has(type)) problems.push(`volume ${volume.name} uses ${type}`);
  }

  // Restricted: pod-level defaults that containers may inherit.
  const podNonRoot = pod.runAsNonRoot === true;
  const podSeccomp = pod.seccompProfile?.type;
  if (pod.runAsNonRoot === false) problems.push('pod runAsNonRoot is false');
  if (pod.runAsUser === 0) problems.push('pod runAsUser is 0');
  if (podSeccomp !== undefined && podSeccomp !== 'RuntimeDefault' && podSeccomp !== 'Localhost') {
    problems.push(`pod seccompProfile is ${podSeccomp}`);
  }

  for (const [label, container] of containers) {
    const sc = container.securityContext ?? {};
    if (sc.privileged) problems.push(`${label}: privileged`);
    if (sc.windowsOptions?.hostProcess) problems.push(`${label}: windowsOptions.hostProcess`);
    if (sc.procMount && sc.procMount !== 'Default') problems.push(`${label}: procMount ${sc.procMount}`);
    if (sc.appArmorProfile && sc.appArmorProfile.type === 'Unconfined') problems.push(`${label}: AppArmor Unconfined`);
    if (sc.seLinuxOptions && !ALLOWED_SELINUX_TYPES.has(sc.seLinuxOptions.type ?? '')) problems.push(`${label}: SELinux type`);
    if (sc.seLinuxOptions?.user || sc.seLinuxOptions?.role) problems.push(`${label}: sets SELinux user or role`);
    for (const port of container.ports ?? []) if (port.hostPort) problems.push(`${label}: hostPort ${port.hostPort}`);

    if (sc.allowPrivilegeEscalation !== false) problems.push(`${label}: allowPrivilegeEscalation is not false`);
    const nonRoot = sc.runAsNonRoot ?? (podNonRoot ? true : undefined);
    if (nonRoot !== true) problems.push(`${label}: runAsNonRoot is not true (pod or container)`);
    if (sc.runAsUser === 0) problems.push(`${label}: runAsUser is 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${label}: seccompProfile is ${seccomp ?? 'unset'}`);
    const drop: string[] = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) problems.push(`${label}: capabilities.drop lacks ALL`);
    for (const cap of sc.capabilities?.add ?? [])
      if (cap !== 'NET_BIND_SERVICE') problems.push(`${label}: adds capability ${cap}`);
  }
  return problems;
}
