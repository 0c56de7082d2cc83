import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The scripts token.place's page loads from CDNs, served from the exact npm versions in node_modules: the tests have no
 * network. The CDN URLs are the ones index.html (and relay.py's rendering of it) names.
 */
const NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

interface CdnAsset {
  url: string;
  /** npm package and version the URL names. */
  pkg: string;
  version: string;
  /** The file inside the package. cdnjs minifies crypto-js itself; npm ships only the unminified build. */
  file: string;
}

export const VUE_PROD_URL = 'https://cdn.jsdelivr.net/npm/vue@2.6.14/dist/vue.min.js';

const ASSETS: CdnAsset[] = [
  { url: VUE_PROD_URL, pkg: 'vue', version: '2.6.14', file: 'dist/vue.min.js' },
  { url: 'https://cdn.jsdelivr.net/npm/vue@2.6.14/dist/vue.js', pkg: 'vue', version: '2.6.14', file: 'dist/vue.js' },
  {
    url: 'https://cdn.jsdelivr.net/npm/jsencrypt@3.3.2/bin/jsencrypt.min.js',
    pkg: 'jsencrypt',
    version: '3.3.2',
    file: 'bin/jsencrypt.min.js',
  },
  {
    url: 'https://cdnjs.cloudflare.com/ajax/libs/crypto-js/4.2.0/crypto-js.min.js',
    pkg: 'crypto-js',
    version: '4.2.0',
    file: 'crypto-js.js',
  },
];

/** The CDN hosts the page names; the browser helper answers every request to them. */
export const CDN_ORIGINS = ['https://cdn.jsdelivr.net', 'https://cdnjs.cloudflare.com'];

/** The bytes to serve for a CDN URL, or undefined when the page asks for something this table does not know. */
export function cdnFile(url: string): Buffer | undefined {
  const asset = ASSETS.find((candidate) => candidate.url === url);
  if (asset === undefined) return undefined;
  const dir = join(NODE_MODULES, asset.pkg);
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  if (version !== asset.version) {
    throw new Error(`the page loads ${asset.pkg}@${asset.version} but node_modules has ${version}: run npm ci`);
  }
  return readFileSync(join(dir, asset.file));
}

/** Whether the file served for url satisfies a Subresource Integrity value such as "sha512-...". */
export function integrityMatches(url: string, integrity: string): boolean {
  const file = cdnFile(url);
  if (file === undefined) return false;
  return integrity
    .split(/\s+/)
    .filter((entry) => entry !== '')
    .some((entry) => {
      const dash = entry.indexOf('-');
      const algorithm = entry.slice(0, dash);
      if (!['sha256', 'sha384', 'sha512'].includes(algorithm)) return false;
      return createHash(algorithm).update(file).digest('base64') === entry.slice(dash + 1);
    });
}
