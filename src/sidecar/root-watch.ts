// The agent follows the mesh root file: the pod mounts the ConfigMap istio-ca-root-cert, and
// the kubelet updates such a volume in place (a new `..data` directory swapped in by a symlink
// rename, within about a minute of the ConfigMap's change). When the control plane's root
// changes, the new bundle (old and new roots during the transition) must reach Envoy as the
// `ROOTCA` secret without a restart, so that peers with certificates of the new root are
// trusted before they appear. A directory watch notices the swap at once; a poll covers
// file systems where inotify says nothing. Fail-closed: a file that is empty, unreadable or
// holds anything but CA certificates is refused with a log line, and Envoy keeps what it had.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../util/logger.js';
import { splitPem } from '../ca/pem.js';

export interface RootWatchOptions {
  file: string;
  log: Logger;
  /** Called with each new, valid bundle (PEM). */
  onChange: (rootPem: string) => Promise<void> | void;
  /** Fallback poll period (default 10 s). */
  pollMs?: number;
}

/** The bundle's certificates if it is a usable trust bundle; else throws saying why. */
export function checkRootBundle(text: string): string[] {
  const blocks = splitPem(text);
  if (blocks.length === 0) throw new Error('holds no PEM certificate');
  blocks.forEach((b, i) => {
    let c: X509Certificate;
    try {
      c = new X509Certificate(b);
    } catch (err) {
      throw new Error(`certificate ${i + 1} does not parse: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (!c.ca) throw new Error(`certificate ${i + 1} (serial ${c.serialNumber}) is not a CA certificate`);
  });
  return blocks;
}

export class RootWatcher {
  private current: string;
  private rejected: string | undefined;
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: RootWatchOptions,
    /** The bundle Envoy has now. */
    initial: string,
  ) {
    this.current = initial;
  }

  /** The bundle last accepted (or the initial one). */
  get accepted(): string {
    return this.current;
  }

  start(): void {
    try {
      // The kubelet's swap renames entries in the volume's directory: watch that, not the file.
      this.watcher = fs.watch(path.dirname(this.o.file), () => void this.check());
      this.watcher.on('error', () => undefined); // the poll carries on
      this.watcher.unref();
    } catch (err) {
      this.o.log.warn('cannot watch the root certificate directory; polling only', { file: this.o.file, error: err instanceof Error ? err.message : String(err) });
    }
    this.timer = setInterval(() => void this.check(), this.o.pollMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }

  /** Reads the file once; resolves after a change (if any) was handed to onChange. */
  check(): Promise<void> {
    this.checking = this.checking.then(() => this.checkOnce());
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    let text: string;
    try {
      text = fs.readFileSync(this.o.file, 'utf8');
    } catch {
      return; // mid-swap, or gone for a moment: the next event or poll reads it again
    }
    if (text === this.current || text === this.rejected) return;
    try {
      checkRootBundle(text);
    } catch (err) {
      this.rejected = text;
      this.o.log.error('refusing the changed root certificate file; keeping the current roots', { file: this.o.file, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    this.current = text;
    this.rejected = undefined;
    try {
      await this.o.onChange(text);
      this.o.log.info('mesh root certificates changed; pushed to Envoy', { file: this.o.file, roots: splitPem(text).length });
    } catch (err) {
      this.o.log.error('cannot apply the changed root certificates', { file: this.o.file, error: err instanceof Error ? err.message : String(err) });
    }
  }
}
