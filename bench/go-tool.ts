// The benchmarks' own Go programs (bench/ca-client, bench/xds-client: Go's standard library only,
// so no module is fetched), built on first use under .devcluster/cache/bench/.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { root } from '../test/support/cluster.js';

/** Builds bench/<name> (go build is a no-op when nothing changed) and returns the binary's path. */
export async function buildGoTool(name: string): Promise<string> {
  const out = path.join(process.env.DEVCLUSTER_CACHE ?? path.join(root, '.devcluster/cache'), 'bench', name);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const code = await new Promise<number | null>((resolve) => spawn('go', ['build', '-o', out, '.'], { cwd: path.join(root, 'bench', name), stdio: 'inherit' }).on('exit', resolve).on('error', () => resolve(-1)));
  if (code !== 0) throw new Error(`building bench/${name} failed (is Go installed? make setup installs it)`);
  return out;
}
