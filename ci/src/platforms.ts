/** The platforms the relay image is published for (Raspberry Pi 5 nodes are linux/arm64). */
export const PUBLISH_PLATFORMS = ['linux/amd64', 'linux/arm64'] as const;

export type PublishPlatform = (typeof PUBLISH_PLATFORMS)[number];

export function isPublishPlatform(value: string): value is PublishPlatform {
  return (PUBLISH_PLATFORMS as readonly string[]).includes(value);
}

/** Validates a `--platform` argument; undefined means the engine's native platform. */
export function parsePlatform(value: string | undefined): PublishPlatform | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const platform = value.trim();
  if (!isPublishPlatform(platform)) {
    throw new Error(`platform: ${JSON.stringify(value)} is not one the image is built for (${PUBLISH_PLATFORMS.join(', ')})`);
  }
  return platform;
}
