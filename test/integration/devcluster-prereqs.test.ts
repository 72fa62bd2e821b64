// A missing prerequisite fails `devcluster up` at once, with a message that names it, before
// anything is started or changed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { devcluster, run } from '../support/cluster.js';

function which(cmd: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`${cmd} not found`);
}

/** A PATH holding only the named commands. */
function pathWith(cmds: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prereq-'));
  for (const c of cmds) fs.symlinkSync(which(c), path.join(dir, c));
  return dir;
}

const basics = ['bash', 'id', 'dirname', 'printf'];

test('not root: fails naming root', async () => {
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', devcluster, 'up']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('must run as root');
});

test('no Go: fails naming Go', async () => {
  const r = await run(devcluster, ['up'], { env: { PATH: pathWith(basics) } });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Go is required: 'go' is not in PATH");
});

test('no Python: fails naming Python 3', async () => {
  const r = await run(devcluster, ['up'], { env: { PATH: pathWith([...basics, 'go']) } });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Python 3 is required: 'python3' is not in PATH");
});

test('no dnsmasq, iptables or container runtime: fails naming them and the command that installs them', async () => {
  const r = await run(devcluster, ['up'], { env: { PATH: pathWith([...basics, 'go', 'python3', 'node', 'ip']) } });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/missing commands: .*iptables.*dnsmasq.*containerd ctr runc buildah/);
  expect(r.stderr).toContain('make setup');
});

test('the devcluster prints its kubeconfig path and its usage', async () => {
  const k = await run(devcluster, ['kubeconfig']);
  expect(k.stdout.trim()).toMatch(/\.devcluster\/kubeconfig$/);
  const bad = await run(devcluster, ['frobnicate']);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain("unknown command 'frobnicate'");
  expect(bad.stderr).toContain('exec [-i] [-c CONTAINER] NS/POD -- CMD');
});
