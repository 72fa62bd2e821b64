import { ConfigStore } from '../../src/model/config-store.js';
import { Mesh } from '../../src/model/mesh.js';
import { ServiceRegistry } from '../../src/model/services.js';
import { tlsFields } from '../../src/translate/cluster-settings.js';
import { sidecarSecrets } from '../../src/translate/secrets.js';
import { config } from '../support/mesh-fixtures.js';
import { unpackAny } from '../../src/xds/protos.js';

function mesh(): Mesh {
  const store = new ConfigStore();
  store.upsert(config('DestinationRule', 'shop', 'api', { host: 'api.shop.svc.cluster.local', trafficPolicy: { portLevelSettings: [{ port: { number: 443 }, tls: { mode: 'MUTUAL', credentialName: 'client-cred' } }] } }));
  store.upsert(config('DestinationRule', 'shop', 'db', { host: 'db.shop.svc.cluster.local', trafficPolicy: { tls: { mode: 'SIMPLE', credentialName: 'missing' } } }));
  const reg = new ServiceRegistry();
  for (const name of ['api', 'db']) reg.upsertService({ namespace: 'shop', name, clusterIP: '10.96.0.9', ports: [{ name: 'https', port: 443, targetPort: 443, protocol: 'TCP' }], labels: {}, selector: { app: name }, exportTo: [] });
  reg.upsertSecret({ namespace: 'shop', name: 'client-cred', cert: 'CERT', key: 'KEY', ca: 'CA' });
  reg.upsertSecret({ namespace: 'other', name: 'client-cred', cert: 'OTHER', key: 'OTHER' });
  return new Mesh(store, reg);
}

test("a sidecar gets the credentialName Secrets of its own namespace's DestinationRules, and only those that exist", () => {
  const secrets = sidecarSecrets(mesh(), { namespace: 'shop', ip: '10.244.0.2', labels: {} });
  expect(secrets.map((s) => s.name)).toEqual(['kubernetes://client-cred', 'kubernetes://client-cred-cacert']);
  expect(Buffer.from(secrets[0].tls_certificate!.certificate_chain!.inline_bytes as Uint8Array).toString()).toBe('CERT');
  expect(Buffer.from(secrets[1].validation_context!.trusted_ca!.inline_bytes as Uint8Array).toString()).toBe('CA');
  // A proxy in another namespace never gets shop's Secret, even for the same name.
  const other = sidecarSecrets(mesh(), { namespace: 'other', ip: '10.244.0.3', labels: {} });
  expect(other.map((s) => Buffer.from((s.tls_certificate?.certificate_chain?.inline_bytes as Uint8Array | undefined) ?? []).toString())).not.toContain('CERT');
});

test('credentialName origination references the Secrets over SDS instead of files', () => {
  const fields = tlsFields({ mode: 'MUTUAL', credentialName: 'client-cred', sni: 'api.example.com' }, 'api.shop.svc.cluster.local') as { transport_socket: { typed_config: { type_url: string; value: Uint8Array } } };
  const ctx = unpackAny(fields.transport_socket.typed_config) as { sni: string; common_tls_context: { tls_certificate_sds_secret_configs: { name: string }[]; combined_validation_context: { validation_context_sds_secret_config: { name: string } } } };
  expect(ctx.sni).toBe('api.example.com');
  expect(ctx.common_tls_context.tls_certificate_sds_secret_configs.map((c) => c.name)).toEqual(['kubernetes://client-cred']);
  expect(ctx.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name).toBe('kubernetes://client-cred-cacert');
});
