import { describe, expect, it } from 'vitest';
import { PUBLISH_PLATFORMS, parsePlatform } from '../src/platforms.ts';
import {
  assertOneDigest,
  chartReference,
  chartVersion,
  chartYamlVersion,
  expectedLabels,
  helmPushDigest,
  imageBuildArgs,
  parseRegistry,
  parseRepository,
  releaseInfo,
  startOfUtcDay,
} from '../src/release.ts';

const SHA = '0123abcDEF4567890123456789abcdef01234567';

describe('releaseInfo', () => {
  it('gives a branch build only the immutable sha tag, lower-cased', () => {
    const info = releaseInfo('refs/heads/main', SHA);
    expect(info.tags).toEqual(['sha-0123abc']);
    expect(info.version).toBe('sha-0123abc');
    expect(info.revision).toBe(SHA.toLowerCase());
    expect(info.semver).toBeUndefined();
  });

  it('adds 1.2.3, 1.2 and 1 for a v1.2.3 tag', () => {
    const info = releaseInfo('refs/tags/v1.2.3', SHA);
    expect(info.tags).toEqual(['sha-0123abc', '1.2.3', '1.2', '1']);
    expect(info.version).toBe('1.2.3');
    expect(info.prerelease).toBe(false);
  });

  it('does not move floating tags for a pre-release', () => {
    const info = releaseInfo('refs/tags/v2.0.0-rc.1', SHA);
    expect(info.tags).toEqual(['sha-0123abc', '2.0.0-rc.1']);
    expect(info.prerelease).toBe(true);
  });

  it('never tags a bare "0" for 0.x releases', () => {
    expect(releaseInfo('refs/tags/v0.4.1', SHA).tags).toEqual(['sha-0123abc', '0.4.1', '0.4']);
  });

  it('gives the chart an appVersion that is a pushed tag: the exact version, else the sha tag', () => {
    expect(releaseInfo('refs/heads/main', SHA).appVersion).toBe('sha-0123abc');
    expect(releaseInfo('refs/tags/v1.2.3', SHA).appVersion).toBe('1.2.3');
    expect(releaseInfo('refs/tags/v2.0.0-rc.1', SHA).appVersion).toBe('2.0.0-rc.1');
    const build = releaseInfo('refs/tags/v1.2.3+build.7', SHA);
    expect(build.appVersion).toBe('1.2.3');
    expect(build.tags).toContain(build.appVersion);
  });

  it('keeps build metadata in the version label but out of tags (+ is not a valid OCI tag character)', () => {
    const info = releaseInfo('refs/tags/v1.2.3+build.7', SHA);
    expect(info.version).toBe('1.2.3+build.7');
    expect(info.tags).toEqual(['sha-0123abc', '1.2.3', '1.2', '1']);
  });

  it('treats non-v tags, pull requests and bare HEAD as ordinary builds', () => {
    for (const ref of ['refs/tags/release-3', 'refs/pull/12/merge', 'HEAD', '']) {
      expect(releaseInfo(ref, SHA).tags).toEqual(['sha-0123abc']);
    }
  });

  it('rejects a v* tag that is not semver, naming the ref', () => {
    expect(() => releaseInfo('refs/tags/v1.2', SHA)).toThrow(/refs\/tags\/v1\.2.*not a semantic version/);
    expect(() => releaseInfo('refs/tags/v01.2.3', SHA)).toThrow(/not a semantic version/);
    expect(() => releaseInfo('refs/tags/vnext', SHA)).toThrow(/not a semantic version/);
  });

  it('rejects a sha that is not hex', () => {
    expect(() => releaseInfo('refs/heads/main', 'xyz')).toThrow(/^sha: /);
    expect(() => releaseInfo('refs/heads/main', '0123ab')).toThrow(/7 to 40 hex/);
  });
});

describe('chart version', () => {
  it('reads the top-level version of Chart.yaml', () => {
    expect(chartYamlVersion('apiVersion: v2\nname: tokenplace-relay\nversion: "0.3.0" # bump me\nappVersion: 0.1.0\n')).toBe(
      '0.3.0',
    );
    expect(() => chartYamlVersion('name: x\n  version: 1.0.0\n')).toThrow(/no top-level "version:"/);
  });

  it('is the release semver for v* tags and a sha pre-release otherwise', () => {
    expect(chartVersion('0.3.0', releaseInfo('refs/tags/v1.4.0', SHA))).toBe('1.4.0');
    expect(chartVersion('0.3.0', releaseInfo('refs/heads/main', SHA))).toBe('0.3.0-sha-0123abc');
    expect(chartVersion('0.3.0-dev', releaseInfo('refs/heads/main', SHA))).toBe('0.3.0-sha-0123abc');
    expect(() => chartVersion('latest', releaseInfo('refs/heads/main', SHA))).toThrow(/Chart\.yaml/);
  });

  it('produces a valid SemVer 2 even when the short sha is all digits with a leading zero', () => {
    const version = chartVersion('1.0.0', releaseInfo('refs/heads/main', '0123456789012345678901234567890123456789'));
    expect(version).toBe('1.0.0-sha-0123456');
    // A numeric pre-release identifier must not have a leading zero; "sha-0123456" is alphanumeric.
    expect(version.split('-').slice(1).join('-')).toMatch(/^[0-9A-Za-z-]*[A-Za-z-][0-9A-Za-z-]*$/);
  });
});

describe('labels and build args', () => {
  const info = releaseInfo('refs/tags/v1.2.3', SHA);

  it('fills the Dockerfile build args and the labels they must produce', () => {
    const inputs = { info, created: '2026-11-23T10:00:00Z', source: 'https://github.com/acme/tokenplace-relay' };
    expect(imageBuildArgs(inputs)).toEqual([
      { name: 'VERSION', value: '1.2.3' },
      { name: 'REVISION', value: SHA.toLowerCase() },
      { name: 'CREATED', value: '2026-11-23T10:00:00Z' },
      { name: 'SOURCE', value: 'https://github.com/acme/tokenplace-relay' },
    ]);
    expect(expectedLabels(inputs)['org.opencontainers.image.source']).toBe('https://github.com/acme/tokenplace-relay');
  });

  it("leaves SOURCE to the Dockerfile's default when no URL is given", () => {
    const inputs = { info, created: '2026-11-23T10:00:00Z', source: '' };
    expect(imageBuildArgs(inputs).map((a) => a.name)).toEqual(['VERSION', 'REVISION', 'CREATED']);
    expect(expectedLabels(inputs)).not.toHaveProperty('org.opencontainers.image.source');
  });

  it('rejects a created time or source that would make a bad label', () => {
    expect(() => imageBuildArgs({ info, created: 'yesterday', source: '' })).toThrow(/^created: /);
    expect(() => imageBuildArgs({ info, created: '2026-11-23T10:00:00Z', source: 'acme/repo' })).toThrow(/^source: /);
  });

  it('defaults created to midnight UTC so a day of local builds shares the cache', () => {
    expect(startOfUtcDay(new Date('2026-11-23T17:45:12.345Z'))).toBe('2026-11-23T00:00:00Z');
  });
});

describe('registry names', () => {
  it('accepts lower-case owner/name and rejects what ghcr.io would refuse', () => {
    expect(parseRepository('acme/tokenplace-relay')).toEqual({ owner: 'acme', name: 'tokenplace-relay' });
    expect(() => parseRepository('Acme/tokenplace-relay')).toThrow(/lower-case/);
    expect(() => parseRepository('tokenplace-relay')).toThrow(/^repository: /);
  });

  it('wants a bare registry host', () => {
    expect(parseRegistry('ghcr.io')).toBe('ghcr.io');
    expect(parseRegistry('localhost:5000/')).toBe('localhost:5000');
    expect(() => parseRegistry('https://ghcr.io')).toThrow(/no scheme/);
  });

  it("names the pushed chart as helm stores it ('+' of build metadata becomes '_')", () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(chartReference('oci://ghcr.io/acme/charts', 'tokenplace-relay', '1.2.3+build.7', digest)).toBe(
      `oci://ghcr.io/acme/charts/tokenplace-relay:1.2.3_build.7@${digest}`,
    );
    expect(chartReference('oci://ghcr.io/acme/charts', 'tokenplace-relay', '0.1.0-sha-0123abc', digest)).toBe(
      `oci://ghcr.io/acme/charts/tokenplace-relay:0.1.0-sha-0123abc@${digest}`,
    );
  });

  it('reads the digest helm push prints', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(helmPushDigest(`Pushed: ghcr.io/acme/charts/tokenplace-relay:1.2.3\nDigest: ${digest}\n`)).toBe(digest);
    expect(() => helmPushDigest('Error: unauthorized')).toThrow(/no "Digest/);
  });

  it('insists that every tag of one publish points at the same index', () => {
    const a = `ghcr.io/acme/r:1.2.3@sha256:${'a'.repeat(64)}`;
    const b = `ghcr.io/acme/r:1@sha256:${'b'.repeat(64)}`;
    expect(assertOneDigest([a, a.replace(':1.2.3', ':1')])).toBe(`sha256:${'a'.repeat(64)}`);
    expect(() => assertOneDigest([a, b])).toThrow(/different digests/);
    expect(() => assertOneDigest(['ghcr.io/acme/r:1'])).toThrow(/@sha256/);
  });
});

describe('platforms', () => {
  it('publishes amd64 and arm64 (Raspberry Pi 5)', () => {
    expect(PUBLISH_PLATFORMS).toEqual(['linux/amd64', 'linux/arm64']);
  });

  it('validates --platform', () => {
    expect(parsePlatform(undefined)).toBeUndefined();
    expect(parsePlatform(' linux/arm64 ')).toBe('linux/arm64');
    expect(() => parsePlatform('linux/arm/v7')).toThrow(/linux\/amd64, linux\/arm64/);
  });
});
