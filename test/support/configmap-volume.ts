// A ConfigMap volume as the kubelet keeps it: each key a symlink through `..data`, which points
// at a timestamped directory; an update writes a new directory and swaps `..data` by renaming a
// symlink (atomic), so readers see the old or the new content, never a mix.
import fs from 'node:fs';
import path from 'node:path';

/** Writes `file` (a key of the volume at `volume`) as the kubelet does on a ConfigMap change. */
export function kubeletWrite(volume: string, file: string, content: string): void {
  const stamp = `..${Date.now()}_${Math.random().toString(36).slice(2)}`;
  fs.mkdirSync(path.join(volume, stamp));
  fs.writeFileSync(path.join(volume, stamp, file), content);
  fs.symlinkSync(stamp, path.join(volume, '..data_tmp'));
  fs.renameSync(path.join(volume, '..data_tmp'), path.join(volume, '..data'));
  if (!fs.existsSync(path.join(volume, file))) fs.symlinkSync(`..data/${file}`, path.join(volume, file));
}
