// Gateway spec (networking.istio.io/v1): a load balancer at the edge of the mesh.
import type { Labels, Port } from './common.js';

export interface GatewaySpec {
  servers?: Server[];
  /** Labels that select the gateway pods this configuration applies to. */
  selector?: Labels;
}

export interface Server {
  port: Port;
  bind?: string;
  /** `host` or `<namespace>/host`; `*` wildcards allowed. */
  hosts: string[];
  tls?: ServerTLSSettings;
  defaultEndpoint?: string;
  name?: string;
}

export type ServerTLSMode =
  | 'PASSTHROUGH'
  | 'SIMPLE'
  | 'MUTUAL'
  | 'AUTO_PASSTHROUGH'
  | 'ISTIO_MUTUAL'
  | 'OPTIONAL_MUTUAL';

export type TLSProtocolVersion = 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';

export interface TLSCertificate {
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
}

export interface ServerTLSSettings {
  httpsRedirect?: boolean;
  mode?: ServerTLSMode;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCertCredentialName?: string;
  caCrl?: string;
  credentialName?: string;
  credentialNames?: string[];
  tlsCertificates?: TLSCertificate[];
  subjectAltNames?: string[];
  verifyCertificateSpki?: string[];
  verifyCertificateHash?: string[];
  minProtocolVersion?: TLSProtocolVersion;
  maxProtocolVersion?: TLSProtocolVersion;
  cipherSuites?: string[];
}
