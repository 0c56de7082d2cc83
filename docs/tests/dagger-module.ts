/**
 * The Dagger module as the engine sees it: read by the TypeScript SDK's own introspector (`scan()` of
 * `@dagger.io/dagger`, the exact version pinned in package.json, imported by file path because the
 * package does not export it), the same code the engine runs over `ci/src` when it loads the module.
 *
 * The engine passes the module's source files plus the generated `client.gen.ts` of its `ci/sdk/`;
 * the introspector looks core types (Container, Directory, Secret…) up by name in a file of that name.
 * Offline there is no generated SDK, so the package's own declarations of the same core API
 * (`dist/src/api/client.gen.d.ts`) are copied to a temporary `client.gen.ts` and passed instead.
 *
 * From that, the functions as `dagger functions` / `dagger call` show them: kebab-case names and
 * flags (`sourceUrl` becomes `--source-url`, as the CLI's strcase.ToKebab does), which arguments are
 * required, defaults, `defaultPath`/`ignore`, cache policy and whether a function is a check.
 */
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scan } from '../../node_modules/@dagger.io/dagger/dist/src/module/introspector/index.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SDK_DIR = join(REPO_ROOT, 'node_modules/@dagger.io/dagger');

export interface DaggerParam {
  name: string;
  /** `--kebab-case` as `dagger call` takes it. */
  flag: string;
  /** Not required: `?`, a default value, or a `defaultPath`. */
  optional: boolean;
  /** A boolean flag takes no separate value (`--with-chart` or `--with-chart=false`). */
  boolean: boolean;
  /** The introspector's type kind, e.g. STRING_KIND, OBJECT_KIND. */
  kind: string;
  /** Object type name for OBJECT_KIND, e.g. Directory, Secret. */
  typeName?: string;
  defaultValue?: unknown;
  defaultPath?: string;
  ignore?: string[];
  description: string;
}

export interface DaggerFunction {
  name: string;
  cliName: string;
  params: DaggerParam[];
  /** `never`, or undefined for Dagger's default (cached). */
  cache?: string;
  /** Marked `@check()`: `dagger check` runs it. */
  isCheck: boolean;
  returnKind: string;
  description: string;
}

export interface DaggerModuleView {
  /** The main object, named after the module (`tokenplace-relay` → `TokenplaceRelay`). */
  className: string;
  description: string;
  functions: DaggerFunction[];
  sdkVersion: string;
}

/** Dagger CLI names: the engine's strcase.ToKebab for these identifiers. */
export function kebab(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.(?:m?ts)$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

interface ScannedArgument {
  name: string;
  description: string;
  isOptional: boolean;
  isNullable: boolean;
  defaultValue?: unknown;
  defaultPath?: string;
  ignore?: string[];
  type?: { kind: string; name?: string };
}

interface ScannedFunction {
  name: string;
  description: string;
  cache?: string;
  isCheck: boolean;
  returnType?: { kind: string };
  arguments: Record<string, ScannedArgument>;
  getArgsOrder(): string[];
}

/** Runs the SDK's introspector over `moduleSourceDir` (default `ci/src`), as the engine does. */
export async function introspectModule(
  moduleName = 'tokenplace-relay',
  moduleSourceDir = join(REPO_ROOT, 'ci/src'),
): Promise<DaggerModuleView> {
  const scratch = await mkdtemp(join(tmpdir(), 'dagger-client-gen-'));
  try {
    const clientGen = join(scratch, 'client.gen.ts');
    await copyFile(join(SDK_DIR, 'dist/src/api/client.gen.d.ts'), clientGen);
    const module = await scan([...(await sourceFiles(moduleSourceDir)), clientGen], moduleName, false);
    const className = Object.keys(module.objects).find((name) => name.toLowerCase() === moduleName.replace(/-/g, ''));
    if (!className) throw new Error(`the introspector found no main object for ${moduleName} in ${Object.keys(module.objects)}`);
    const main = module.objects[className] as unknown as { description: string; methods: Record<string, ScannedFunction> };
    const functions = Object.values(main.methods).map((fn): DaggerFunction => {
      const params = fn.getArgsOrder().map((argName): DaggerParam => {
        const arg = fn.arguments[argName];
        const kind = arg.type?.kind ?? 'UNKNOWN';
        return {
          name: arg.name,
          flag: `--${kebab(arg.name)}`,
          optional: arg.isOptional || arg.isNullable || arg.defaultValue !== undefined || arg.defaultPath !== undefined,
          boolean: kind === 'BOOLEAN_KIND',
          kind,
          ...(arg.type?.name ? { typeName: arg.type.name } : {}),
          ...(arg.defaultValue !== undefined ? { defaultValue: arg.defaultValue } : {}),
          ...(arg.defaultPath !== undefined ? { defaultPath: arg.defaultPath } : {}),
          ...(arg.ignore !== undefined ? { ignore: arg.ignore } : {}),
          description: arg.description,
        };
      });
      return {
        name: fn.name,
        cliName: kebab(fn.name),
        params,
        ...(fn.cache ? { cache: fn.cache } : {}),
        isCheck: fn.isCheck,
        returnKind: fn.returnType?.kind ?? 'UNKNOWN',
        description: fn.description,
      };
    });
    const sdk = JSON.parse(await readFile(join(SDK_DIR, 'package.json'), 'utf8')) as { version: string };
    return { className, description: module.description ?? '', functions, sdkVersion: sdk.version };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
