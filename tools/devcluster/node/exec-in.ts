// Runs a command inside a running container: its network, mount and UTS namespaces, its user.
import { spawn } from 'node:child_process';
import path from 'node:path';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ExecSpec {
  pid: number;
  uid: number;
  gid: number;
  path: string[];
  argv: string[];
  stdio: 'inherit' | 'ignore';
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Resolves with the command's exit code (124 on timeout, like timeout(1)). */
export function execInContainer(spec: ExecSpec): Promise<number> {
  const ids = spec.uid === 0 && spec.gid === 0 ? [] : [`--setuid=${spec.uid}`, `--setgid=${spec.gid}`];
  const env = { ...(spec.env ?? {}), PATH: [...spec.path, path.dirname(process.execPath), SYSTEM_PATH].join(':') };
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--target=${spec.pid}`, '--net', '--mount', '--uts', ...ids, '--', ...spec.argv], { stdio: spec.stdio, env });
    let timer: NodeJS.Timeout | undefined;
    if (spec.timeoutMs) {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(124);
      }, spec.timeoutMs);
    }
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve(code ?? (signal ? 137 : 1));
    });
    child.on('error', () => resolve(127));
  });
}
