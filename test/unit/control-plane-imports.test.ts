// The control plane does not load @kubernetes/client-node when it starts: importing it loads
// every generated API and model (about 65 MiB of resident memory, 26 MiB of heap) for a process
// that makes its own requests (src/kube/rest.ts, watch.ts). Types from it are fine; only a
// kubeconfig that needs a plug-in loads it, on demand (src/kube/access.ts).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runtimeImports } from '../support/runtime-imports.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test.each(['src/main.ts', 'src/sidecar/bootstrap-cli.ts', 'src/sidecar/iptables-cli.ts'])('%s starts without @kubernetes/client-node', (entry) => {
  const loaded = [...runtimeImports(path.join(root, entry))];
  expect(loaded.filter((s) => s.startsWith('@kubernetes/'))).toEqual([]);
  expect(loaded.some((s) => s.startsWith('/') && s !== path.join(root, entry))).toBe(true); // the walk followed the entry's imports
});
