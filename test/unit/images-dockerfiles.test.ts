// The Dockerfiles' pins agree with the project's: `docker build` alone (no build argument) puts
// the same Envoy in trellis/proxy as `make images`, the devcluster and the tests use.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

test("Dockerfile.proxy's default Envoy is ENVOY_VERSION of tools/devcluster/versions.env", () => {
  const pinned = /^ENVOY_VERSION=(\S+)$/m.exec(read('tools/devcluster/versions.env'))?.[1];
  expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
  expect(read('images/Dockerfile.proxy')).toMatch(new RegExp(`^ARG ENVOY_VERSION=${pinned!.replace(/\./g, '\\.')}\\nFROM envoyproxy/envoy:v\\$\\{ENVOY_VERSION\\} AS envoy$`, 'm'));
});
