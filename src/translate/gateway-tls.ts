// HTTPS servers of a Gateway: TLS terminated by the gateway proxy with the certificate of the
// Secret named by credentialName, delivered over SDS (so a rotated Secret is a push, not a
// restart). Only Secrets of the gateway proxy's own namespace are ever named or served.
import type { TlsSecret } from '../model/services.js';
import type { Secret } from '../xds/types.js';
import { packAny } from '../xds/protos.js';
import { ADS_CONFIG_SOURCE } from './config-source.js';

export const DOWNSTREAM_TLS_TYPE = 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/** Istio's SDS names for a credentialName: the key pair, and the CA for client certificates. */
export const sdsCertName = (credential: string): string => `kubernetes://${credential}`;
export const sdsCaName = (credential: string): string => `kubernetes://${credential}-cacert`;

export type ServerTlsMode = 'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL';

/** The transport socket of an HTTPS filter chain. */
export function downstreamTls(credential: string, mode: ServerTlsMode): object {
  const common: Record<string, unknown> = {
    tls_certificate_sds_secret_configs: [{ name: sdsCertName(credential), sds_config: ADS_CONFIG_SOURCE }],
    alpn_protocols: ['h2', 'http/1.1'],
  };
  if (mode !== 'SIMPLE') common.validation_context_sds_secret_config = { name: sdsCaName(credential), sds_config: ADS_CONFIG_SOURCE };
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: packAny(DOWNSTREAM_TLS_TYPE, { common_tls_context: common, require_client_certificate: { value: mode === 'MUTUAL' } }),
  };
}

/** The SDS Secrets for one credential (the CA one only when the Secret has ca.crt). */
export function credentialSecrets(credential: string, secret: TlsSecret): Secret[] {
  const out: Secret[] = [
    {
      name: sdsCertName(credential),
      tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(secret.cert) }, private_key: { inline_bytes: Buffer.from(secret.key) } },
    },
  ];
  if (secret.ca) out.push({ name: sdsCaName(credential), validation_context: { trusted_ca: { inline_bytes: Buffer.from(secret.ca) } } });
  return out;
}
