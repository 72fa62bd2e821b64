// Rest reaches the API server at the URL the kubeconfig names: an IPv6 literal (whose URL
// brackets are not part of the address) and a path prefix in front of the API (a proxy's).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClusterAccess } from '../../src/kube/access.js';
import { Rest } from '../../src/kube/rest.js';

test('an IPv6 API server behind a path prefix', async () => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end('{"kind":"Status","status":"Success"}');
  });
  await new Promise<void>((r) => server.listen(0, '::1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const rest = new Rest(new ClusterAccess(`http://[::1]:${port}/k8s/clusters/c-1/`, {}));
    expect(await rest.get('/api/v1/namespaces?limit=1')).toEqual({ kind: 'Status', status: 'Success' });
    expect(seen).toEqual(['/k8s/clusters/c-1/api/v1/namespaces?limit=1']);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
