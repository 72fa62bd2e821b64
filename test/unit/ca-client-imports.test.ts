// The sidecar agent imports the CA client: it must stay light, so nothing it pulls in (however
// indirectly) may load the Kubernetes client, the X.509 library, the xDS server or a logger.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeImports } from '../support/runtime-imports.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the CA client loads grpc-js, protobufjs and node built-ins only', () => {
  const all = [...runtimeImports(path.join(root, 'src/ca/certificate-client.ts'))];
  const packages = all.filter((s) => !s.startsWith('/')).sort();
  expect(packages.every((p) => p.startsWith('node:') || p === '@grpc/grpc-js' || p === 'protobufjs')).toBe(true);
  const files = all.filter((s) => s.startsWith('/')).map((f) => path.relative(root, f)).sort();
  expect(files).toEqual(['src/api/mesh-identity.ts', 'src/ca/certificate-client.ts', 'src/ca/certificate-proto.ts', 'src/ca/csr.ts', 'src/ca/der.ts', 'src/ca/oids.ts', 'src/ca/pem.ts', 'src/util/grpc-options.ts']);
});
