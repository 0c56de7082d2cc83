/**
 * What a build is called: image tags, the version label and the chart version, computed from a git
 * ref and commit. Plain TypeScript (no Dagger import) so it is unit-tested and shared.
 */

export interface ReleaseInfo {
  /** Full commit sha, lower case. */
  revision: string;
  /** The immutable tag every build gets: `sha-<7 hex>`. */
  shaTag: string;
  /** Semver of a `v*` tag without the `v` (build metadata kept), or undefined for other refs. */
  semver?: string;
  /** True for a semver pre-release such as `1.2.0-rc.1`. */
  prerelease: boolean;
  /** Tags to push, immutable one first. */
  tags: string[];
  /** Value of `org.opencontainers.image.version`. */
  version: string;
  /**
   * The published chart's appVersion, which its default `image.tag` resolves to: a pushed tag (the
   * exact semver without build metadata, else `sha-<7 hex>`), and a valid Kubernetes label value
   * (the chart puts it in `app.kubernetes.io/version`).
   */
  appVersion: string;
}

const SHA = /^[0-9a-f]{7,40}$/;
// Semantic Versioning 2.0.0, with the leading "v" of a git tag.
const SEMVER_TAG =
  /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
const OCI_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function normalizeSha(sha: string): string {
  const value = sha.trim().toLowerCase();
  if (!SHA.test(value)) {
    throw new Error(`sha: expected 7 to 40 hex characters of a git commit, got ${JSON.stringify(sha)}`);
  }
  return value;
}

/** `refs/tags/v1.2.3` → `v1.2.3`; undefined when the ref is not a tag. */
export function tagName(ref: string): string | undefined {
  const value = ref.trim();
  if (value.startsWith('refs/tags/')) return value.slice('refs/tags/'.length);
  return undefined;
}

export function releaseInfo(ref: string, sha: string): ReleaseInfo {
  const revision = normalizeSha(sha);
  const shaTag = `sha-${revision.slice(0, 7)}`;
  const tag = tagName(ref);
  if (tag === undefined || !tag.startsWith('v')) {
    return { revision, shaTag, prerelease: false, tags: [shaTag], version: shaTag, appVersion: shaTag };
  }
  const match = SEMVER_TAG.exec(tag);
  if (!match) {
    throw new Error(
      `ref: ${JSON.stringify(ref)} is a v* tag but not a semantic version; use vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. v1.2.3`,
    );
  }
  const [, major, minor, patch, pre, build] = match;
  const core = `${major}.${minor}.${patch}`;
  const semver = `${core}${pre ? `-${pre}` : ''}${build ? `+${build}` : ''}`;
  // '+' is not allowed in an OCI tag: build metadata stays in the version label only.
  const exact = `${core}${pre ? `-${pre}` : ''}`;
  const tags = [shaTag, exact];
  if (!pre) {
    // Floating tags move only for final releases; a 0.x major is unstable, so no bare "0" tag.
    tags.push(`${major}.${minor}`);
    if (major !== '0') tags.push(major);
  }
  for (const t of tags) {
    if (!OCI_TAG.test(t)) throw new Error(`ref: tag ${JSON.stringify(t)} derived from ${ref} is not a valid OCI tag`);
  }
  return { revision, shaTag, semver, prerelease: Boolean(pre), tags, version: semver, appVersion: exact };
}

/**
 * The chart version for a build: the release's semver for `v*` tags, otherwise the chart's own
 * version with a `-sha-<7 hex>` pre-release suffix so every main build is a distinct, ordered chart.
 */
export function chartVersion(chartYamlVersion: string, info: ReleaseInfo): string {
  if (info.semver) return info.semver;
  const base = chartYamlVersion.trim().split(/[-+]/)[0];
  if (!/^\d+\.\d+\.\d+$/.test(base)) {
    throw new Error(`chart/Chart.yaml: version ${JSON.stringify(chartYamlVersion)} is not MAJOR.MINOR.PATCH`);
  }
  return `${base}-${info.shaTag}`;
}

/**
 * `helm package` arguments for a release: the chart version, and the appVersion that the chart's
 * default image tag (`.Chart.AppVersion`) resolves to, which must be one of the pushed image tags.
 */
export function helmPackageArgs(chartDir: string, destination: string, chartYaml: string, info: ReleaseInfo): string[] {
  return [
    'package',
    chartDir,
    '--version',
    chartVersion(chartYamlVersion(chartYaml), info),
    '--app-version',
    info.appVersion,
    '--destination',
    destination,
  ];
}

/**
 * The chart's values.yaml with `image.repository` set to the repository the image was pushed to, so
 * that the published chart's defaults name the published image (top-level `image:` block, its first
 * `repository:` line; the rest of the file, comments included, is left as it is).
 */
export function withImageRepository(valuesYaml: string, repository: string): string {
  if (!/^[a-z0-9.-]+(?::\d+)?(?:\/[a-z0-9._-]+)+$/.test(repository))
    throw new Error(`image repository ${JSON.stringify(repository)} is not registry/owner/name`);
  const lines = valuesYaml.split('\n');
  const start = lines.findIndex((line) => /^image:\s*(?:#.*)?$/.test(line));
  if (start >= 0) {
    for (let i = start + 1; i < lines.length && !/^\S/.test(lines[i]); i++) {
      const match = /^(\s+repository:\s*)\S+(\s*(?:#.*)?)$/.exec(lines[i]);
      if (match) {
        lines[i] = `${match[1]}${repository}${match[2]}`;
        return lines.join('\n');
      }
    }
  }
  throw new Error('chart/values.yaml: no image.repository line under a top-level "image:" block');
}

/** The `version:` field of a Chart.yaml (top-level key only). */
export function chartYamlVersion(chartYaml: string): string {
  const match = /^version:\s*["']?([^"'\s#]+)["']?\s*(?:#.*)?$/m.exec(chartYaml);
  if (!match) throw new Error('chart/Chart.yaml: no top-level "version:" field');
  return match[1];
}

export interface LabelInputs {
  info: ReleaseInfo;
  /** RFC 3339 time of the build. */
  created: string;
  /** URL of the source repository; empty keeps the Dockerfile's default. */
  source: string;
}

/** Build args of the repository's Dockerfile that fill the OCI labels. */
export function imageBuildArgs({ info, created, source }: LabelInputs): { name: string; value: string }[] {
  if (Number.isNaN(Date.parse(created))) throw new Error(`created: ${JSON.stringify(created)} is not an RFC 3339 time`);
  const args = [
    { name: 'VERSION', value: info.version },
    { name: 'REVISION', value: info.revision },
    { name: 'CREATED', value: created },
  ];
  if (source !== '') args.push({ name: 'SOURCE', value: validSource(source) });
  return args;
}

function validSource(source: string): string {
  if (!/^https?:\/\/\S+$/.test(source))
    throw new Error(`source: ${JSON.stringify(source)} is not an http(s) URL of the repository`);
  return source;
}

/** The OCI labels those build args must produce on the image. */
export function expectedLabels({ info, created, source }: LabelInputs): Record<string, string> {
  const labels: Record<string, string> = {
    'org.opencontainers.image.version': info.version,
    'org.opencontainers.image.revision': info.revision,
    'org.opencontainers.image.created': created,
  };
  if (source !== '') labels['org.opencontainers.image.source'] = source;
  return labels;
}

/** Default build time: midnight UTC of the given day, so repeated local builds on one day share the cache. */
export function startOfUtcDay(now: Date): string {
  return `${now.toISOString().slice(0, 10)}T00:00:00Z`;
}

/** All tags of one publish must point at the same multi-arch index. */
export function assertOneDigest(references: string[]): string {
  const digests = new Set(references.map(digestOf));
  if (digests.size !== 1) throw new Error(`published tags point at different digests: ${references.join(', ')}`);
  return [...digests][0];
}

/** `owner/name` for an image repository, lower case as registries such as ghcr.io require. */
export function parseRepository(repository: string): { owner: string; name: string } {
  const value = repository.trim();
  const match = /^([a-z0-9]+(?:[._-][a-z0-9]+)*)\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)$/.exec(value);
  if (!match) {
    throw new Error(
      `repository: expected lower-case "owner/name" (e.g. "my-org/tokenplace-relay"), got ${JSON.stringify(repository)}`,
    );
  }
  return { owner: match[1], name: match[2] };
}

export function parseRegistry(registry: string): string {
  const value = registry.trim().replace(/\/+$/, '');
  if (!/^[a-zA-Z0-9.-]+(?::\d{1,5})?$/.test(value)) {
    throw new Error(`registry: expected a host name such as "ghcr.io" (no scheme, no path), got ${JSON.stringify(registry)}`);
  }
  return value.toLowerCase();
}

/**
 * The pushed chart's reference. Helm stores a chart version's `+` (build metadata) as `_` in the OCI
 * tag, since `+` is not allowed in a tag.
 */
export function chartReference(target: string, chartName: string, version: string, digest: string): string {
  return `${target}/${chartName}:${version.replace(/\+/g, '_')}@${digest}`;
}

/** `Digest: sha256:…` as printed by `helm push`. */
export function helmPushDigest(output: string): string {
  const match = /^Digest:\s*(sha256:[0-9a-f]{64})\s*$/m.exec(output);
  if (!match) throw new Error(`helm push: no "Digest: sha256:…" line in its output:\n${output.trim()}`);
  return match[1];
}

/** `host/repo:tag@sha256:…` as returned by a registry push. */
export function digestOf(reference: string): string {
  const match = /@(sha256:[0-9a-f]{64})$/.exec(reference.trim());
  if (!match) throw new Error(`expected a reference ending in @sha256:<64 hex>, got ${JSON.stringify(reference)}`);
  return match[1];
}

/**
 * What `publish` does about the image, given the digest `sha-<7 hex>` already points at in the
 * registry (undefined when that tag is absent). `sha-<7 hex>` is immutable: once set it never moves.
 *
 * - `retag`: the commit is already published (typically by main's run, before its `v*` tag was pushed).
 *   Nothing is rebuilt; the other tags (1.2.3, 1.2, 1) are added to the digest `sha-` points at, so
 *   they name the very image main tested and published. Its version label stays `sha-<7 hex>`.
 * - `build`: build both platforms, push the index under `tags` (the semver tags; none for a branch),
 *   then add `shaTag` only if it is still absent at that moment, else leave it where it is.
 */
export type PublishPlan = { kind: 'retag'; digest: string; tags: string[] } | { kind: 'build'; tags: string[]; shaTag: string };

export function publishPlan(info: ReleaseInfo, existingShaDigest: string | undefined): PublishPlan {
  const others = info.tags.filter((tag) => tag !== info.shaTag);
  if (existingShaDigest !== undefined) return { kind: 'retag', digest: digestOf(`x@${existingShaDigest}`), tags: others };
  return { kind: 'build', tags: others, shaTag: info.shaTag };
}

/**
 * A shell script (crane on PATH, the password at /run/secrets/registry-password, REGISTRY,
 * REGISTRY_USER and REF in the environment) printing `DIGEST=sha256:…` for REF, or `DIGEST=none` when
 * the registry says the tag or the repository does not exist (or, as GHCR may for a package not
 * created yet, denies it). Any other error (unauthorized, network) fails the script.
 */
export const DIGEST_LOOKUP_SCRIPT = `set -eu
crane auth login "$REGISTRY" --username "$REGISTRY_USER" --password-stdin < "\${REGISTRY_PASSWORD_FILE:-/run/secrets/registry-password}" >/dev/null
if out=$(crane digest "$REF" 2>&1); then
  echo "DIGEST=$out"
else
  case "$out" in
    *MANIFEST_UNKNOWN*|*NAME_UNKNOWN*|*"manifest unknown"*|*"not found"*|*"404 Not Found"*) echo "DIGEST=none" ;;
    # GHCR may answer DENIED for a package that does not exist yet; a real lack of rights fails the push next.
    *DENIED*) echo "DIGEST=none" ;;
    *) echo "crane digest $REF: $out" >&2; exit 1 ;;
  esac
fi
`;

/** The digest from DIGEST_LOOKUP_SCRIPT's output; undefined for `none`. */
export function parseDigestLookup(output: string): string | undefined {
  const match = /^DIGEST=(none|sha256:[0-9a-f]{64})\s*$/m.exec(output);
  if (!match) throw new Error(`registry lookup: no DIGEST= line in:\n${output.trim()}`);
  return match[1] === 'none' ? undefined : match[1];
}

/**
 * A shell script (as DIGEST_LOOKUP_SCRIPT, plus IMAGE = registry/owner/name and DIGEST) that points
 * each tag at DIGEST without pulling or pushing layers, and prints `TAGGED <image>:<tag>@<digest>` as
 * the registry then reports it.
 */
export function retagScript(tags: readonly string[]): string {
  for (const tag of tags) {
    if (!/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag)) throw new Error(`retag: ${JSON.stringify(tag)} is not an OCI tag`);
  }
  return `set -eu
crane auth login "$REGISTRY" --username "$REGISTRY_USER" --password-stdin < "\${REGISTRY_PASSWORD_FILE:-/run/secrets/registry-password}" >/dev/null
for tag in ${tags.join(' ')}; do
  crane tag "$IMAGE@$DIGEST" "$tag"
  echo "TAGGED $IMAGE:$tag@$(crane digest "$IMAGE:$tag")"
done
`;
}

/** `host/repo:tag@sha256:…` references from retagScript's output. */
export function parseRetagged(output: string): string[] {
  return [...output.matchAll(/^TAGGED (\S+@sha256:[0-9a-f]{64})\s*$/gm)].map((m) => m[1]);
}

/** The `org.opencontainers.image.description` label of the Dockerfile (one literal, no build args). */
export function dockerfileDescription(dockerfile: string): string {
  const match = /org\.opencontainers\.image\.description="([^"$\\]+)"/.exec(dockerfile);
  if (!match) throw new Error('Dockerfile: no literal org.opencontainers.image.description label');
  return match[1];
}

/**
 * OCI annotations on each published platform variant. Labels live in the image config, which GHCR
 * does not read for a multi-arch index; annotations are written on each manifest and on its entry in
 * the index, where GHCR looks for the description and the repository link. (Dagger 0.21 has no way to
 * annotate the index itself.)
 */
export function imageAnnotations(description: string, source: string): { name: string; value: string }[] {
  const annotations = [{ name: 'org.opencontainers.image.description', value: description }];
  if (source !== '') annotations.push({ name: 'org.opencontainers.image.source', value: validSource(source) });
  return annotations;
}
