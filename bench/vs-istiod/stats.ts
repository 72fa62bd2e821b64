// Pure helpers of bench/vs-istiod: percentiles, a process's CPU time and memory from /proc, and
// the ratio columns of the report.
import fs from 'node:fs';

/** The p-th percentile by nearest rank (p50 of 30 values is the 15th smallest, p90 the 27th). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  max: number;
}

/** The largest value (a loop: Math.max(...xs) overflows the stack past ~100,000 values). */
export function maxOf(xs: readonly number[]): number {
  let m = Number.NaN;
  for (const x of xs) if (!(x <= m)) m = x;
  return m;
}

export function summarize(xs: readonly number[]): Summary {
  return { n: xs.length, p50: percentile(xs, 50), p90: percentile(xs, 90), max: maxOf(xs) };
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux this runs on). */
export const CLOCK_TICKS = 100;

/** User + system CPU seconds from the text of /proc/<pid>/stat (fields 14 and 15, after the command in parentheses). */
export function parseProcStatCpu(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc stat: ${stat.slice(0, 80)}`);
  return (utime + stime) / CLOCK_TICKS;
}

/** Resident memory now and at its peak, in bytes, from the text of /proc/<pid>/status. */
export function parseProcStatusMemory(status: string): { rss: number; peak: number } {
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${key} in /proc status`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

export interface ProcessSample {
  cpuSeconds: number;
  rss: number;
  peakRss: number;
}

/** CPU seconds (user + system, since the process started) and memory of a process. */
export function sampleProcess(pid: number): ProcessSample {
  const cpuSeconds = parseProcStatCpu(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const mem = parseProcStatusMemory(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds, rss: mem.rss, peakRss: mem.peak };
}

/** Bytes a process read through read(2) and friends (sockets included), from /proc/<pid>/io. */
export function parseProcIoReadBytes(io: string): number {
  const m = /^rchar:\s+(\d+)/m.exec(io);
  if (!m) throw new Error('no rchar in /proc io');
  return Number(m[1]);
}

/** "0.31×" (a / b), or "n/a" when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`;
}

export function ms(x: number): string {
  return Number.isFinite(x) ? `${x >= 100 ? x.toFixed(0) : x.toFixed(1)} ms` : 'n/a';
}

/** Bytes as KiB below a MiB, else MiB (GiB from 10 GiB). */
export function size(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'n/a';
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 10 * 2 ** 30) return `${(bytes / 2 ** 20).toFixed(bytes >= 100 * 2 ** 20 ? 0 : 1)} MiB`;
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}
