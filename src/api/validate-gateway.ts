// Gateway validation with Istio's rules.
import type { GatewaySpec, Server, ServerTLSSettings, TLSProtocolVersion } from './gateway.js';
import { validateLabels } from './validate-common.js';
import { ErrorList, isSet, list, type ValidationError } from './validate-errors.js';
import { hostProblem, isIPAddress, namespaceProblem, portProblem, protocolProblem } from './validate-primitives.js';

const TLS_VERSIONS: TLSProtocolVersion[] = ['TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];
const PLAIN_HTTP = ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'];

export function validateGateway(spec: GatewaySpec): ValidationError[] {
  const e = new ErrorList();
  const servers = list(spec.servers);
  if (servers.length === 0) e.add('spec.servers', 'at least one server is required');
  const portNames = new Set<string>();
  const serverNames = new Set<string>();
  servers.forEach((server, i) => {
    const p = `spec.servers[${i}]`;
    const portName = server.port?.name;
    if (portName && portNames.has(portName)) {
      e.add(`${p}.port.name`, `duplicate port name ${JSON.stringify(portName)}; port names must be unique across servers`);
    }
    if (portName) portNames.add(portName);
    if (server.name && serverNames.has(server.name)) e.add(`${p}.name`, `duplicate server name ${JSON.stringify(server.name)}`);
    if (server.name) serverNames.add(server.name);
    validateServer(e, p, server);
  });
  validateLabels(e, 'spec.selector', spec.selector);
  return e.errors;
}

function validateServer(e: ErrorList, p: string, server: Server): void {
  const port = server.port;
  if (!isSet(port)) e.add(`${p}.port`, 'required');
  else {
    e.check(`${p}.port.number`, portProblem(port.number));
    e.check(`${p}.port.protocol`, protocolProblem(port.protocol));
    if (!port.name) e.add(`${p}.port.name`, 'required');
    if (isSet(port.targetPort) && port.targetPort !== 0) e.check(`${p}.port.targetPort`, portProblem(port.targetPort));
  }
  const hosts = list(server.hosts);
  if (hosts.length === 0) e.add(`${p}.hosts`, 'at least one host is required');
  hosts.forEach((host, i) => e.check(`${p}.hosts[${i}]`, gatewayHostProblem(host)));
  if (isSet(server.bind) && server.bind !== '' && !isIPAddress(server.bind) && !server.bind.startsWith('unix://')) {
    e.add(`${p}.bind`, `must be an IP address or a unix:// socket path, got ${JSON.stringify(server.bind)}`);
  }
  const protocol = typeof port?.protocol === 'string' ? port.protocol.toUpperCase() : '';
  const terminatesTls = protocol === 'HTTPS' || protocol === 'TLS';
  const tls = server.tls;
  if (terminatesTls && !isSet(tls)) e.add(`${p}.tls`, `required for protocol ${protocol}`);
  if (terminatesTls && isSet(tls)) validateServerTls(e, `${p}.tls`, tls);
  if (PLAIN_HTTP.includes(protocol) && isSet(tls)) {
    // As Istio: a plain-text HTTP server may only redirect to HTTPS.
    const passthrough = !isSet(tls.mode) || tls.mode === 'PASSTHROUGH' || tls.mode === 'AUTO_PASSTHROUGH';
    if (!passthrough || tls.serverCertificate || tls.privateKey || tls.caCertificates) {
      e.add(`${p}.tls`, `only httpsRedirect may be set for protocol ${protocol}; use protocol HTTPS or TLS to serve TLS`);
    }
  }
}

/** `host` or `<namespace>/host`, where namespace is `*`, `.`, `~` or a namespace name. */
function gatewayHostProblem(value: string): string | undefined {
  const parts = typeof value === 'string' ? value.split('/') : [];
  if (parts.length > 2 || parts.length === 0) {
    return `invalid host ${JSON.stringify(value)}: use <host> or <namespace>/<host>, e.g. prod/*.example.com`;
  }
  if (parts.length === 2 && !['*', '.', '~'].includes(parts[0]) && namespaceProblem(parts[0])) {
    return `invalid namespace ${JSON.stringify(parts[0])} in host ${JSON.stringify(value)}: use "*", "." or a namespace name`;
  }
  const host = parts[parts.length - 1];
  return isIPAddress(host) ? undefined : hostProblem(host, { wildcard: true });
}

function validateServerTls(e: ErrorList, p: string, tls: ServerTLSSettings): void {
  const mode = tls.mode ?? 'PASSTHROUGH';
  if (mode === 'ISTIO_MUTUAL') {
    const set = (['serverCertificate', 'privateKey', 'caCertificates', 'credentialName', 'credentialNames', 'tlsCertificates'] as const)
      .filter((k) => isSet(tls[k]) && tls[k] !== '' && !(Array.isArray(tls[k]) && tls[k].length === 0));
    if (set.length > 0) e.add(p, `mode ISTIO_MUTUAL uses the mesh's certificates; remove ${set.join(', ')}`);
  } else if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
    const fromSecret = tls.credentialName || list(tls.credentialNames).length > 0;
    const fromFiles = Boolean(tls.serverCertificate && tls.privateKey) || list(tls.tlsCertificates).length > 0;
    if (!fromSecret && !fromFiles) e.add(p, `mode ${mode} requires credentialName, or serverCertificate and privateKey`);
    const hasCa = tls.caCertificates || tls.caCertCredentialName || list(tls.tlsCertificates).some((c) => c.caCertificates);
    if (mode !== 'SIMPLE' && !fromSecret && !hasCa) {
      e.add(p, `mode ${mode} requires caCertificates when credentialName is not set`);
    }
    list(tls.tlsCertificates).forEach((cert, i) => {
      if (!cert.serverCertificate || !cert.privateKey) {
        e.add(`${p}.tlsCertificates[${i}]`, 'serverCertificate and privateKey are required');
      }
    });
  }
  const min = TLS_VERSIONS.indexOf(tls.minProtocolVersion as TLSProtocolVersion);
  const max = TLS_VERSIONS.indexOf(tls.maxProtocolVersion as TLSProtocolVersion);
  if (min >= 0 && max >= 0 && min > max) {
    e.add(`${p}.minProtocolVersion`, `${tls.minProtocolVersion} is higher than maxProtocolVersion ${tls.maxProtocolVersion}`);
  }
}
