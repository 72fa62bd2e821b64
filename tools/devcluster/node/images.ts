// The devcluster's image table: which local command stands for which image.
import fs from 'node:fs';
import path from 'node:path';

export interface ImageEntry {
  entrypoint: string[];
  cmd: string[];
  path: string[];
}

export class ImageTable {
  private readonly table: Record<string, ImageEntry>;
  constructor(private readonly root: string) {
    const raw = JSON.parse(fs.readFileSync(path.join(root, 'tools/devcluster/images.json'), 'utf8')) as Record<string, unknown>;
    this.table = Object.fromEntries(Object.entries(raw).filter(([k]) => k !== '#')) as Record<string, ImageEntry>;
  }

  /** "registry.example/trellis/echo:1.2@sha256:…" → "trellis/echo". */
  static repository(image: string): string {
    let ref = image.split('@')[0];
    const slash = ref.lastIndexOf('/');
    const colon = ref.lastIndexOf(':');
    if (colon > slash) ref = ref.slice(0, colon);
    const parts = ref.split('/');
    if (parts.length > 2 && /[.:]|^localhost$/.test(parts[0])) parts.shift();
    return parts.join('/');
  }

  lookup(image: string): ImageEntry | undefined {
    const e = this.table[ImageTable.repository(image)];
    if (!e) return undefined;
    return { ...e, path: e.path.map((p) => path.resolve(this.root, p)) };
  }

  get known(): string[] {
    return Object.keys(this.table);
  }
}
