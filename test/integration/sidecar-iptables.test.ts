// The init container's capture rules, applied by the real CLI with the real iptables in a
// network namespace of the test's own, then exercised with real connections: outbound TCP of
// the app goes to 15001, the proxy's own traffic (UID 1337) does not, inbound TCP goes to 15006
// except excluded ports, DNS is left alone.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { root, run, waitFor } from '../support/cluster.js';

const pod = `trellis-t-ipt-${process.pid}`;
const peer = `trellis-t-peer-${process.pid}`;
const cli = path.join(root, 'dist/src/sidecar/iptables-cli.js');
const servers: ChildProcess[] = [];

// A TCP server per port that answers with its own label, run inside the pod namespace.
const SERVER = `
const net = require('net');
for (const spec of process.argv.slice(1)) {
  const [port, label] = spec.split('=');
  net.createServer((s) => s.end(label + '\\n')).listen(Number(port), '0.0.0.0');
}`;
const CLIENT = `
const s = require('net').connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 1500 });
let out = '';
s.on('data', (d) => (out += d));
s.on('end', () => { process.stdout.write(out.trim()); process.exit(0); });
s.on('timeout', () => { process.stdout.write('TIMEOUT'); process.exit(0); });
s.on('error', (e) => { process.stdout.write('ERROR ' + e.code); process.exit(0); });`;

async function sh(args: string[]): Promise<string> {
  const r = await run(args[0], args.slice(1));
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Connects from inside namespace `ns` as `uid` and returns what the other end said. */
async function connect(ns: string, uid: number, host: string, port: number): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, 'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', CLIENT, host, String(port)]);
  return r.stdout.trim();
}

beforeAll(async () => {
  await sh(['ip', 'netns', 'add', pod]);
  await sh(['ip', 'netns', 'add', peer]);
  await sh(['ip', '-n', pod, 'link', 'set', 'lo', 'up']);
  await sh(['ip', '-n', peer, 'link', 'set', 'lo', 'up']);
  // A peer namespace: the "rest of the network" for the pod, and a source of inbound traffic.
  await sh(['ip', 'link', 'add', `tp${process.pid}`, 'netns', pod, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
  await sh(['ip', '-n', pod, 'addr', 'add', '198.18.1.2/24', 'dev', `tp${process.pid}`]);
  await sh(['ip', '-n', pod, 'link', 'set', `tp${process.pid}`, 'up']);
  await sh(['ip', '-n', peer, 'addr', 'add', '198.18.1.1/24', 'dev', 'eth0']);
  await sh(['ip', '-n', peer, 'link', 'set', 'eth0', 'up']);
  // Packets to 198.18.0.0/24 reach the peer, which drops them: an address nobody answers.
  await sh(['ip', '-n', pod, 'route', 'add', '198.18.0.0/24', 'via', '198.18.1.1']);
  servers.push(spawn('ip', ['netns', 'exec', pod, process.execPath, '-e', SERVER, '15001=outbound-capture', '15006=inbound-capture', '8080=app', '9000=app-9000'], { stdio: 'ignore' }));
  servers.push(spawn('ip', ['netns', 'exec', peer, process.execPath, '-e', SERVER, '8080=peer', '53=dns'], { stdio: 'ignore' }));
  await waitFor('servers', async () => (await connect(pod, 0, '127.0.0.1', 8080)) === 'app' && (await connect(pod, 0, '198.18.1.1', 8080)) === 'peer');
});

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL');
  await run('ip', ['netns', 'delete', pod]);
  await run('ip', ['netns', 'delete', peer]);
});

test('the CLI installs the rules, prints them, and iptables holds them', async () => {
  const r = await run('ip', ['netns', 'exec', pod, process.execPath, cli, '--exclude-inbound-ports', '9000', '--exclude-outbound-ports', '9999']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('-A TRELLIS_REDIRECT -p tcp -j REDIRECT --to-ports 15001');
  expect(r.stdout).toContain('trellis-iptables: rules installed');
  const saved = await sh(['ip', 'netns', 'exec', pod, 'iptables-save', '-t', 'nat']);
  expect(saved).toContain('-A OUTPUT -p tcp -j TRELLIS_OUTPUT');
  expect(saved).toContain('-A PREROUTING -p tcp -j TRELLIS_INBOUND');
  expect(saved).toContain('-A TRELLIS_INBOUND -p tcp -m tcp --dport 9000 -j RETURN');
});

test("the app's outbound TCP is redirected to the proxy's outbound port", async () => {
  expect(await connect(pod, 1000, '198.18.1.1', 8080)).toBe('outbound-capture');
  expect(await connect(pod, 1000, '198.18.0.50', 80)).toBe('outbound-capture');
});

test("the proxy's own traffic (UID 1337) is not captured", async () => {
  expect(await connect(pod, 1337, '198.18.1.1', 8080)).toBe('peer');
});

test("the app's traffic to its own pod and DNS over TCP are not captured", async () => {
  expect(await connect(pod, 1000, '127.0.0.1', 8080)).toBe('app');
  expect(await connect(pod, 1000, '198.18.1.2', 8080)).toBe('app');
  expect(await connect(pod, 1000, '198.18.1.1', 53)).toBe('dns');
});

test("the proxy calling its own pod's address goes through inbound capture", async () => {
  expect(await connect(pod, 1337, '198.18.1.2', 8080)).toBe('inbound-capture');
});

test('inbound TCP goes to the inbound port, except excluded ports', async () => {
  expect(await connect(peer, 0, '198.18.1.2', 8080)).toBe('inbound-capture');
  expect(await connect(peer, 0, '198.18.1.2', 9000)).toBe('app-9000');
  // The proxy's own ports are never captured.
  expect(await connect(peer, 0, '198.18.1.2', 15001)).toBe('outbound-capture');
});

test('bad values are refused with a message that names the flag', async () => {
  const r = await run(process.execPath, [cli, '--dry-run', '--exclude-outbound-cidrs', '10.0.0.300/8']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--exclude-outbound-cidrs: "10.0.0.300/8" is not an IPv4 address or CIDR');
});
