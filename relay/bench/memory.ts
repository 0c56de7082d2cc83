import { readFileSync } from 'node:fs';

export interface Rss {
  /** VmRSS: resident memory now. */
  current: number;
  /** RssAnon: heap, stacks and buffers, the part that grows with load. */
  anon: number;
  /** RssFile: file-backed pages, mostly the runtime's own code, shared and reclaimable. */
  file: number;
  /** VmHWM: the most the process has been resident since it started. */
  peak: number;
}

/** A process's resident memory in MB, read from /proc/<pid>/status. */
export function rssMb(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { current: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024, peak: kb('VmHWM') / 1024 };
}

/** The summed memory of a group of processes (a gunicorn master and its worker), peak included. */
export function sumRss(list: Rss[]): Rss {
  const total = (key: keyof Rss) => list.reduce((sum, rss) => sum + rss[key], 0);
  return { current: total('current'), anon: total('anon'), file: total('file'), peak: total('peak') };
}
