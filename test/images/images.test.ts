// The three images as `make images` builds them here (buildah, as root, bases made locally when
// no registry answers): each entrypoint works, each runs as its non-root user, the proxy's Envoy
// is the pinned one, and nothing of development is inside. Containers get a network namespace
// with only a loopback interface (buildah run --network none). `make test-images` runs this.
import fs from 'node:fs';
import path from 'node:path';
import { pinnedVersion, root } from '../support/cluster.js';
import { IMAGE_NAMES, buildImages, imageConfig, imageRef, runInImage, withRootfs, type ImageName } from '../support/images.js';

const users: Record<ImageName, string> = { controller: '65532', proxy: '1337', echo: '65532' };

beforeAll(async () => {
  const r = await buildImages();
  if (r.code !== 0) throw new Error(`make images failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
}, 45 * 60_000);

test.each(IMAGE_NAMES)('trellis/%s runs as its non-root user', async (name) => {
  const config = await imageConfig(imageRef(name));
  expect(config.User).toBe(`${users[name]}:${users[name]}`);
  const id = await runInImage(imageRef(name), ['id', '-u']);
  expect(id).toMatchObject({ code: 0, stdout: `${users[name]}\n` });
});

/** Every path under dir, relative to it. */
function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = path.join(rel, e.name);
    return e.isDirectory() ? [p, ...walk(dir, p)] : [p];
  });
}

test.each(IMAGE_NAMES)('trellis/%s holds the compiled app and its runtime dependencies, nothing of development', async (name) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  // What the lock file marks dev: wanted by the devDependencies alone (a devDependency that a
  // runtime dependency also needs, like @types/node, is not).
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const devOnly = Object.entries(lock.packages).filter(([p, v]) => v.dev && p.startsWith('node_modules/')).map(([p]) => p);
  expect(devOnly).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/jest', 'node_modules/eslint']));
  await withRootfs(imageRef(name), (rootfs) => {
    const app = path.join(rootfs, 'app');
    expect(fs.existsSync(path.join(rootfs, 'src'))).toBe(false); // the build stage's folder
    // The control plane serves the mesh page's own files (web/): no CDN, no internet needed.
    expect(fs.readdirSync(app).sort()).toEqual(name === 'controller' ? ['dist', 'node_modules', 'package.json', 'web'] : ['dist', 'node_modules', 'package.json']);
    if (name === 'controller') expect(fs.readdirSync(path.join(app, 'web')).sort()).toEqual(['mesh.css', 'mesh.html', 'mesh.js']);
    expect(fs.readdirSync(path.join(app, 'dist')).sort()).toEqual(name === 'echo' ? ['src', 'tools'] : ['src']);
    if (name === 'echo') expect(fs.readdirSync(path.join(app, 'dist/tools'))).toEqual(['echo']);
    const files = walk(app);
    // No TypeScript (sources or declarations), no source maps, no tests, no benchmarks.
    expect(files.filter((f) => /\.(ts|mts|cts|map)$/.test(f))).toEqual([]);
    expect(files.filter((f) => !f.startsWith('node_modules/') && /(^|\/)(test|tests|bench|__tests__)(\/|$)|\.test\.js$/.test(f))).toEqual([]);
    expect(devOnly.filter((p) => fs.existsSync(path.join(app, p)))).toEqual([]);
    for (const dep of Object.keys(pkg.dependencies)) expect([dep, fs.existsSync(path.join(app, 'node_modules', dep, 'package.json'))]).toEqual([dep, true]);
    expect(fs.existsSync(path.join(app, 'node_modules/.bin/tsc'))).toBe(false);
  });
});

test('trellis/controller: its entrypoint answers --help', async () => {
  const config = await imageConfig(imageRef('controller'));
  expect(config.Entrypoint).toEqual(['node', '/app/dist/src/main.js']);
  // glibc's malloc gives large blocks back when freed (BENCHMARKS.md, "What each client costs").
  expect(config.Env).toContain('MALLOC_MMAP_THRESHOLD_=131072');
  const r = await runInImage(imageRef('controller'), [...config.Entrypoint!, '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Usage: trellis');
});

test('trellis/proxy: Envoy is the pinned version, the agent (Go), the bootstrap and the init container answer --help', async () => {
  const envoyVersion = pinnedVersion('ENVOY_VERSION');
  const config = await imageConfig(imageRef('proxy'));
  expect(config.Entrypoint).toEqual(['trellis-agent']);
  expect(config.Env).toContain('TRELLIS_ENVOY=/usr/local/bin/envoy');
  const envoy = await runInImage(imageRef('proxy'), ['/usr/local/bin/envoy', '--version']);
  expect(envoy.code).toBe(0);
  expect(envoy.stdout).toContain(`/${envoyVersion}/Clean/RELEASE/`);
  const agent = await runInImage(imageRef('proxy'), ['trellis-agent', '--help']);
  expect(agent.code).toBe(0);
  expect(agent.stdout).toContain('Usage: trellis-agent');
  // The agent is the static Go binary (no Node.js in the pod's resident agent); the bootstrap it
  // runs at start is the TypeScript.
  const file = await runInImage(imageRef('proxy'), ['sh', '-c', 'head -c 4 /usr/local/bin/trellis-agent | od -An -c']);
  expect(file.stdout.replace(/\s+/g, '')).toBe('177ELF');
  const bootstrap = await runInImage(imageRef('proxy'), ['trellis-bootstrap', '--help']);
  expect(bootstrap.code).toBe(0);
  expect(bootstrap.stdout).toContain('Usage: trellis-bootstrap');
  const init = await runInImage(imageRef('proxy'), ['trellis-iptables', '--help']);
  expect(init.code).toBe(0);
  expect(init.stdout).toContain('Usage: trellis-iptables');
  // The init container's rules need the iptables commands (it runs as root with NET_ADMIN).
  expect(await runInImage(imageRef('proxy'), ['sh', '-c', 'command -v iptables-restore'])).toMatchObject({ code: 0 });
});

test('trellis/echo: the server starts and answers an HTTP request on loopback', async () => {
  const config = await imageConfig(imageRef('echo'));
  expect(config.Entrypoint).toEqual(['echo-server']);
  // The entrypoint in the background; echo-client (in the image) asks it until it answers.
  const script = `${config.Entrypoint!.join(' ')} >/tmp/server.log 2>&1 &
    for i in $(seq 50); do
      if out="$(echo-client http://127.0.0.1:8080/images-test -H 'x-test: 1' --timeout 1s 2>/dev/null)"; then echo "$out"; exit 0; fi
      sleep 0.2
    done
    cat /tmp/server.log >&2; exit 1`;
  const r = await runInImage(imageRef('echo'), ['sh', '-c', script]);
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  const answer = JSON.parse(r.stdout.trim().split('\n')[0]) as { status: number; body: { method: string; path: string; headers: Record<string, string> } };
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ method: 'GET', path: '/images-test' });
  expect(answer.body.headers['x-test']).toBe('1');
});
