// Starts one container as a local process inside its pod: the pod's network namespace, a
// private mount namespace with its volumes bound at their mountPaths, the pod's hostname, and
// the container's user and group.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { V1Container, V1PodSecurityContext } from '@kubernetes/client-node';
import { expand } from './env.js';
import type { ImageEntry } from './images.js';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface LaunchSpec {
  container: V1Container;
  image: ImageEntry;
  env: Record<string, string>;
  podSecurity: V1PodSecurityContext | undefined;
  netns: string;
  hostname: string;
  podDir: string;
  volumes: Map<string, string>;
  logFile: string;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The user and group a container runs as (container settings win over the pod's). */
export function identity(c: V1Container, pod: V1PodSecurityContext | undefined): { uid: number; gid: number } {
  const uid = c.securityContext?.runAsUser ?? pod?.runAsUser ?? 0;
  const gid = c.securityContext?.runAsGroup ?? pod?.runAsGroup ?? uid;
  return { uid, gid };
}

/** argv with Kubernetes' rules: command replaces ENTRYPOINT, args replace CMD, $(VAR) expanded. */
export function containerArgv(c: V1Container, image: ImageEntry, env: Record<string, string>): string[] {
  const lookup = (n: string): string | undefined => env[n];
  const command = c.command?.length ? c.command.map((a) => expand(a, lookup)) : image.entrypoint;
  const args = c.args?.length ? c.args.map((a) => expand(a, lookup)) : c.command?.length ? [] : image.cmd;
  return [...command, ...args];
}

function mountScript(spec: LaunchSpec): string {
  const lines = ['set -e', `hostname ${q(spec.hostname)}`];
  lines.push(`mount --bind ${q(path.join(spec.podDir, 'etc/resolv.conf'))} /etc/resolv.conf`);
  lines.push(`mount --bind ${q(path.join(spec.podDir, 'etc/hosts'))} /etc/hosts`);
  for (const m of spec.container.volumeMounts ?? []) {
    const base = spec.volumes.get(m.name);
    if (base === undefined) throw new Error(`volumeMount "${m.name}": no volume of that name`);
    const src = m.subPath ? path.join(base, m.subPath) : base;
    if (m.subPath && !fs.existsSync(src)) fs.mkdirSync(src, { recursive: true, mode: 0o777 });
    const isFile = fs.existsSync(src) && fs.statSync(src).isFile();
    lines.push(
      isFile
        ? `mkdir -p ${q(path.dirname(m.mountPath))}; [ -e ${q(m.mountPath)} ] || touch ${q(m.mountPath)}`
        : `mkdir -p ${q(m.mountPath)}`,
    );
    lines.push(`mount --bind ${q(src)} ${q(m.mountPath)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${q(m.mountPath)}`);
  }
  if (spec.container.workingDir) lines.push(`mkdir -p ${q(spec.container.workingDir)}; cd ${q(spec.container.workingDir)}`);
  const { uid, gid } = identity(spec.container, spec.podSecurity);
  lines.push(uid === 0 && gid === 0 ? 'exec "$@"' : `exec setpriv --reuid=${uid} --regid=${gid} --clear-groups -- "$@"`);
  return lines.join('\n') + '\n';
}

/** Spawns the container; the returned process's PID is the container's main process. */
export function launch(spec: LaunchSpec): ChildProcess {
  const argv = containerArgv(spec.container, spec.image, spec.env);
  const script = path.join(spec.podDir, `start-${spec.container.name}.sh`);
  fs.writeFileSync(script, mountScript(spec), { mode: 0o755 });
  const env = {
    PATH: [...spec.image.path, path.dirname(process.execPath), SYSTEM_PATH].join(':'),
    HOSTNAME: spec.hostname,
    HOME: identity(spec.container, spec.podSecurity).uid === 0 ? '/root' : '/tmp',
    ...spec.env,
  };
  const log = fs.openSync(spec.logFile, 'a');
  // As runc gives a non-root container its stdio: owned by the container's user, so the process
  // may reopen it (Envoy's access log path /dev/stdout opens /proc/self/fd/1 anew).
  const { uid, gid } = identity(spec.container, spec.podSecurity);
  if (uid !== 0 || gid !== 0) fs.fchownSync(log, uid, gid);
  const child = spawn(
    'nsenter',
    [`--net=/var/run/netns/${spec.netns}`, '--', 'unshare', '--mount', '--uts', '--propagation', 'private', '--', '/bin/bash', script, ...argv],
    { env, stdio: ['ignore', log, log], detached: true },
  );
  fs.closeSync(log);
  return child;
}
