// The SDS Secrets a sidecar needs: those named by credentialName in the DestinationRules that
// apply to the services it sees, read only from the proxy's own namespace (Istio's rule for
// sidecars). A name with no Secret is not served: the cluster waits for it rather than falling
// back to plaintext.
import type { TrafficPolicy } from '../api/destination-rule.js';
import type { Secret } from '../xds/types.js';
import { proxyNamespace, visibleDestinations, type MeshView, type SidecarProxy } from './input.js';

function credentialsOf(tp: TrafficPolicy | undefined, out: Set<string>): void {
  if (tp?.tls?.credentialName) out.add(tp.tls.credentialName);
  for (const pl of tp?.portLevelSettings ?? []) if (pl.tls?.credentialName) out.add(pl.tls.credentialName);
}

export function sidecarSecrets(mesh: MeshView, proxy: SidecarProxy, visible = visibleDestinations(mesh, proxy)): Secret[] {
  const ns = proxyNamespace(proxy);
  const names = new Set<string>();
  for (const { rule: dr } of visible) {
    credentialsOf(dr?.spec.trafficPolicy, names);
    for (const s of dr?.spec.subsets ?? []) credentialsOf(s.trafficPolicy, names);
  }
  const out: Secret[] = [];
  for (const name of [...names].sort()) {
    const secret = mesh.tlsSecret(ns, name);
    if (!secret) continue;
    if (secret.cert && secret.key) {
      out.push({ name: `kubernetes://${name}`, tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(secret.cert) }, private_key: { inline_bytes: Buffer.from(secret.key) } } });
    }
    // Without ca.crt the server certificate is not verified (as with SIMPLE and no caCertificates).
    out.push({ name: `kubernetes://${name}-cacert`, validation_context: secret.ca ? { trusted_ca: { inline_bytes: Buffer.from(secret.ca) } } : {} });
  }
  return out;
}
