import type { Docker } from './docker.ts';
import { repoRoot } from './paths.ts';

/** The values the pipeline passes as build args; they become the image's OCI labels. */
export interface ImageMetadata {
  version: string;
  revision: string;
  created: string;
  source: string;
}

export interface RelayImageOptions {
  tag: string;
  platform: string;
  buildImage: string;
  runtimeImage: string;
  metadata: ImageMetadata;
}

export const FIXED_LABELS = {
  'org.opencontainers.image.title': 'tokenplace-relay',
  'org.opencontainers.image.description': 'Hardened relay that forwards browser traffic to a token.place GPU host.',
  'org.opencontainers.image.licenses': 'MIT',
} as const;

/** Every OCI label the image must carry for the given build args. */
export function expectedLabels(metadata: ImageMetadata): Record<string, string> {
  return {
    ...FIXED_LABELS,
    'org.opencontainers.image.version': metadata.version,
    'org.opencontainers.image.revision': metadata.revision,
    'org.opencontainers.image.created': metadata.created,
    'org.opencontainers.image.source': metadata.source,
  };
}

export function testMetadata(): ImageMetadata {
  return {
    version: '0.1.0-container-test',
    revision: '0123456789abcdef0123456789abcdef01234567',
    created: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    source: 'https://example.com/tokenplace-relay',
  };
}

const PROXY_ARGS = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

/** Builds the repository's Dockerfile with BuildKit; resolves with the plain-progress build log. */
export function buildRelayImage(docker: Docker, options: RelayImageOptions): Promise<string> {
  const { metadata } = options;
  const args = [
    '--platform',
    options.platform,
    '--tag',
    options.tag,
    '--build-arg',
    `BUILD_IMAGE=${options.buildImage}`,
    '--build-arg',
    `RUNTIME_IMAGE=${options.runtimeImage}`,
    '--build-arg',
    `VERSION=${metadata.version}`,
    '--build-arg',
    `REVISION=${metadata.revision}`,
    '--build-arg',
    `CREATED=${metadata.created}`,
    '--build-arg',
    `SOURCE=${metadata.source}`,
  ];
  // Docker's predefined proxy args, so `npm ci` in the build stage goes out the way this machine does.
  for (const name of PROXY_ARGS) if (process.env[name]) args.push('--build-arg', name);
  return docker.build([...args, repoRoot]);
}
