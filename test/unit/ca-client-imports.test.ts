// The sidecar agent imports the CA client: it must stay light, so nothing it pulls in (however
// indirectly) may load the Kubernetes client, the X.509 library, the xDS server or a logger.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function imports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^(?:import|export)\s(?!type\b)(?:[^;]*?from\s+)?'([^']+)'/gm)) {
    const spec = m[1];
    if (spec.startsWith('.')) imports(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')), seen);
    else seen.add(spec);
  }
  return seen;
}

test('the CA client loads grpc-js, protobufjs and node built-ins only', () => {
  const all = [...imports(path.join(root, 'src/ca/certificate-client.ts'))];
  const packages = all.filter((s) => !s.startsWith('/')).sort();
  expect(packages.every((p) => p.startsWith('node:') || p === '@grpc/grpc-js' || p === 'protobufjs')).toBe(true);
  const files = all.filter((s) => s.startsWith('/')).map((f) => path.relative(root, f)).sort();
  expect(files).toEqual(['src/api/mesh-identity.ts', 'src/ca/certificate-client.ts', 'src/ca/certificate-proto.ts', 'src/ca/csr.ts', 'src/ca/der.ts', 'src/ca/oids.ts', 'src/ca/pem.ts']);
});
