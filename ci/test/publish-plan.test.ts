/** How `publish` keeps `sha-<7 hex>` immutable: the plan, and the registry scripts against a fake crane. */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DIGEST_LOOKUP_SCRIPT,
  dockerfileDescription,
  imageAnnotations,
  parseDigestLookup,
  parseRetagged,
  publishPlan,
  releaseInfo,
  retagScript,
} from '../src/release.ts';

const SHA = '0123abcdef4567890123456789abcdef01234567';
const D1 = `sha256:${'1'.repeat(64)}`;

describe('publishPlan', () => {
  it('builds a branch commit only while its sha tag is absent, and then pushes just that tag', () => {
    expect(publishPlan(releaseInfo('refs/heads/main', SHA), undefined)).toEqual({
      kind: 'build',
      tags: [],
      shaTag: 'sha-0123abc',
    });
    // A re-run of main for a published commit pushes nothing new.
    expect(publishPlan(releaseInfo('refs/heads/main', SHA), D1)).toEqual({ kind: 'retag', digest: D1, tags: [] });
  });

  it('adds the semver tags of a v* build to what main already published instead of rebuilding', () => {
    expect(publishPlan(releaseInfo('refs/tags/v1.2.3', SHA), D1)).toEqual({
      kind: 'retag',
      digest: D1,
      tags: ['1.2.3', '1.2', '1'],
    });
  });

  it('builds a v* commit main never published, the sha tag last and only if still absent', () => {
    expect(publishPlan(releaseInfo('refs/tags/v1.2.3', SHA), undefined)).toEqual({
      kind: 'build',
      tags: ['1.2.3', '1.2', '1'],
      shaTag: 'sha-0123abc',
    });
  });

  it('wants a real digest', () => {
    expect(() => publishPlan(releaseInfo('refs/heads/main', SHA), 'sha256:nope')).toThrow(/sha256/);
  });
});

describe('registry scripts (fake crane)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fake-crane-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'password'), 'secret');
  writeFileSync(
    join(dir, 'crane'),
    `#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_DIR/calls"
case "$1" in
  auth) cat >/dev/null ;;
  digest) case "$FAKE_ANSWER" in found) echo "${D1}" ;; *) echo "Error: GET https://ghcr.io/v2/o/r/manifests/x: $FAKE_ANSWER" >&2; exit 1 ;; esac ;;
  tag) : ;;
esac
`,
  );
  chmodSync(join(dir, 'crane'), 0o755);
  const sh = (script: string, env: Record<string, string>) => {
    writeFileSync(join(dir, 'calls'), '');
    const result = spawnSync('dash', ['-c', script], {
      encoding: 'utf8',
      env: {
        PATH: `${dir}:${process.env.PATH}`,
        FAKE_DIR: dir,
        REGISTRY: 'ghcr.io',
        REGISTRY_USER: 'me',
        REGISTRY_PASSWORD_FILE: join(dir, 'password'),
        ...env,
      },
    });
    return { ...result, calls: readFileSync(join(dir, 'calls'), 'utf8') };
  };

  it('reads the digest a tag points at, or none when the registry does not know it', () => {
    const found = sh(DIGEST_LOOKUP_SCRIPT, { REF: 'ghcr.io/o/r:sha-0123abc', FAKE_ANSWER: 'found' });
    expect(parseDigestLookup(found.stdout)).toBe(D1);
    expect(found.calls).toBe('auth login ghcr.io --username me --password-stdin\ndigest ghcr.io/o/r:sha-0123abc\n');
    for (const answer of [
      'MANIFEST_UNKNOWN: manifest unknown',
      'NAME_UNKNOWN: repository name not known to registry',
      'DENIED: requested access to the resource is denied',
    ]) {
      expect(parseDigestLookup(sh(DIGEST_LOOKUP_SCRIPT, { REF: 'x', FAKE_ANSWER: answer }).stdout), answer).toBeUndefined();
    }
  });

  it('fails on any other registry error instead of assuming the tag is absent', () => {
    const denied = sh(DIGEST_LOOKUP_SCRIPT, {
      REF: 'ghcr.io/o/r:sha-0123abc',
      FAKE_ANSWER: 'UNAUTHORIZED: authentication required',
    });
    expect(denied.status).toBe(1);
    expect(denied.stderr).toContain('UNAUTHORIZED');
    expect(() => parseDigestLookup(denied.stdout)).toThrow(/no DIGEST= line/);
  });

  it('points each tag at the digest without pushing layers, and reports what the registry then says', () => {
    const result = sh(retagScript(['1.2.3', '1.2', '1']), { IMAGE: 'ghcr.io/o/r', DIGEST: D1, FAKE_ANSWER: 'found' });
    expect(result.status).toBe(0);
    expect(result.calls).toContain(`tag ghcr.io/o/r@${D1} 1.2.3\n`);
    expect(parseRetagged(result.stdout)).toEqual([`ghcr.io/o/r:1.2.3@${D1}`, `ghcr.io/o/r:1.2@${D1}`, `ghcr.io/o/r:1@${D1}`]);
    expect(() => retagScript(['bad tag'])).toThrow(/not an OCI tag/);
  });
});

describe('index annotations', () => {
  it('carry the Dockerfile description and the source URL to every published variant', () => {
    const description = dockerfileDescription(readFileSync('Dockerfile', 'utf8'));
    expect(description).toMatch(/relay/i);
    expect(imageAnnotations(description, 'https://github.com/o/r')).toEqual([
      { name: 'org.opencontainers.image.description', value: description },
      { name: 'org.opencontainers.image.source', value: 'https://github.com/o/r' },
    ]);
    expect(imageAnnotations(description, '')).toHaveLength(1);
    expect(() => imageAnnotations(description, 'not a url')).toThrow(/http/);
    expect(() => dockerfileDescription('FROM x\n')).toThrow(/no literal/);
  });

  it('are applied by publish to each platform variant', () => {
    const index = readFileSync('ci/src/index.ts', 'utf8');
    expect(index).toMatch(
      /PUBLISH_PLATFORMS\.map\(\(platform\) =>\s*annotations\.reduce\(\s*\(variant, \{ name, value \}\) => variant\.withAnnotation\(name, value\)/,
    );
  });
});
