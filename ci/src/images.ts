/**
 * Every third-party image the pipeline runs, pinned by tag and digest in one place.
 * The relay image itself is defined only by the repository's Dockerfile.
 *
 * The digests were taken from public references and could not be resolved against a registry on
 * the machine this was written on (no registry access); a first `dagger call test` confirms them.
 */
export const IMAGES = {
  /** Node for `npm ci`, lint, type-check and unit tests (the project pins Node 24). */
  node: 'docker.io/library/node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d',
  /** kubectl, helm, curl and a shell: the e2e tool box and the source of the helm binary. */
  k8sTools: 'docker.io/alpine/k8s:1.34.1@sha256:ec714df3813b5405292860f8a1c55c5727bf8c33c88992f1e981efad8065547f',
  /** The single-node cluster for `e2e`; Kubernetes 1.34, enforces NetworkPolicy (embedded kube-router). */
  k3s: 'docker.io/rancher/k3s:v1.34.9-k3s1@sha256:9c162556657a38e394d1f944081388ae7c0b85ec29134c509583083e287f804e',
  /** In-pipeline registry that k3s pulls the freshly built images from. */
  registry: 'docker.io/library/registry:3.0.0@sha256:6c5666b861f3505b116bb9aa9b25175e71210414bd010d92035ff64018f9457e',
  /** Pushes OCI layouts to that registry over plain HTTP (`--insecure`). */
  crane: 'gcr.io/go-containerregistry/crane@sha256:fc86bcad43a000c2a1ca926a1e167db26c053cebc3fa5d14285c72773fb8c11d',
  /** Probe pods and ephemeral containers: wget, nslookup, sh. */
  busybox: 'docker.io/library/busybox:1.37.0@sha256:bdf57e528e45e4433820e045b29b4597825a1c9e38353532d90a01445013f82e',
  /** Node image for the kind path; same Kubernetes minor as the k3s image. */
  kindNode: 'docker.io/kindest/node:v1.34.8@sha256:02722c2dedddcfc00febf5d27fbeb9b7b2c14294c82109ff4a85d89ac9ba3256',
} as const;

export type ImageName = keyof typeof IMAGES;

const PINNED = /^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+(?::[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$/;

export function isPinned(reference: string): boolean {
  return PINNED.test(reference);
}

/**
 * Debian packages the `lint`, `unit` and `chart` container adds to the Node image, which has none of
 * them (its Dockerfile purges what it used):
 * - curl and ca-certificates: the pipeline's own smoke-judge tests drive the relay with curl, as `smoke` does;
 * - unzip: chart/tests/helm-binary.test.ts extracts helm from the npm layer zip with `unzip` as well
 *   as with the JavaScript reader, and fails when `unzip` is missing.
 */
export const NODE_APT_PACKAGES = ['curl', 'ca-certificates', 'unzip'] as const;

/** One quiet `apt-get install` of exactly these packages, for `sh -c`. */
export function aptInstall(packages: readonly string[]): string {
  for (const name of packages) {
    if (!/^[a-z0-9][a-z0-9.+-]+$/.test(name)) throw new Error(`apt package ${JSON.stringify(name)} is not a Debian package name`);
  }
  if (packages.length === 0) throw new Error('aptInstall: no packages');
  return `apt-get update -qq && apt-get install -y -qq --no-install-recommends ${packages.join(' ')} >/dev/null && rm -rf /var/lib/apt/lists/*`;
}
