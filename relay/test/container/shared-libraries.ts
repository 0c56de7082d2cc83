import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mustRun } from './command.ts';

/** A library to place in an image: copied from `source` (on this machine) to `target` (in the image). */
export interface LibraryFile {
  source: string;
  target: string;
}

/** What the dynamic loader of this machine resolves for a native binary, as `ldd` lists it (loader included). */
export async function lddLibraries(binary: string): Promise<LibraryFile[]> {
  const output = await mustRun('ldd', [binary]);
  const files: LibraryFile[] = [];
  for (const line of output.split('\n')) {
    if (/not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
    const path = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)?.[1];
    if (path) files.push({ source: path, target: path });
  }
  if (files.length === 0) throw new Error(`ldd listed no libraries for ${binary}; is it a static or foreign binary?`);
  return files;
}

export interface ElfLinking {
  interpreter: string;
  needed: string[];
}

/** The program interpreter and DT_NEEDED names of an ELF file of any architecture, read with binutils' readelf. */
export async function elfLinking(file: string): Promise<ElfLinking> {
  const headers = await mustRun('readelf', ['--program-headers', '--dynamic', '--wide', file]);
  const interpreter = /Requesting program interpreter: ([^\]]+)\]/.exec(headers)?.[1] ?? '';
  const needed = [...headers.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((match) => match[1]);
  return { interpreter, needed };
}

/** Debian's multiarch tuple for a docker platform: where its libraries live on a Debian system. */
export function multiarchTuple(platform: string): string {
  if (platform === 'linux/amd64') return 'x86_64-linux-gnu';
  if (platform === 'linux/arm64') return 'aarch64-linux-gnu';
  throw new Error(`no Debian multiarch tuple for ${platform}`);
}

/**
 * The libraries a binary of another architecture needs, taken from Debian's cross packages
 * (libc6-<arch>-cross, libstdc++6-<arch>-cross, libgcc-s1-<arch>-cross install them under
 * /usr/<tuple>/lib) and placed where that architecture's Debian keeps them: /lib/<tuple>/.
 * The loader also goes to the path the binary asks for.
 */
export async function crossLibraries(
  binary: string,
  platform: string,
  crossRoot = `/usr/${multiarchTuple(platform)}`,
): Promise<LibraryFile[]> {
  const tuple = multiarchTuple(platform);
  const libDir = join(crossRoot, 'lib');
  if (!existsSync(join(libDir, 'libc.so.6'))) {
    const arch = platform.split('/')[1];
    throw new Error(
      `no ${platform} C library in ${libDir}; install Debian's libc6-${arch}-cross libstdc++6-${arch}-cross libgcc-s1-${arch}-cross`,
    );
  }
  const { interpreter, needed } = await elfLinking(binary);
  if (!interpreter) throw new Error(`${binary} names no program interpreter`);
  const files: LibraryFile[] = [{ source: join(libDir, basename(interpreter)), target: interpreter }];
  const queue = [...needed];
  const seen = new Set<string>([basename(interpreter)]);
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    const source = join(libDir, name);
    if (!existsSync(source)) throw new Error(`${binary} needs ${name}, which is not in ${libDir}`);
    files.push({ source, target: `/lib/${tuple}/${name}` });
    queue.push(...(await elfLinking(source)).needed);
  }
  return files;
}
