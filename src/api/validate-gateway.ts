// Gateway validation with Istio's rules.
import type { Port } from './common.js';
import type { GatewaySpec, Server, ServerTLSSettings, TLSProtocolVersion } from './gateway.js';
import { validateLabels } from './validate-common.js';
import { ErrorList, isSet, list, type ValidationError } from './validate-errors.js';
import { hostProblem, isIPAddress, namespaceProblem, portProblem, protocolProblem, unixSocketPathProblem } from './validate-primitives.js';

const TLS_VERSIONS: TLSProtocolVersion[] = ['TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];
const PLAIN_HTTP = ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY'];
const UNIX_PREFIX = 'unix://';

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
  const bind = typeof server.bind === 'string' ? server.bind : '';
  const unixBind = bind.startsWith(UNIX_PREFIX);
  if (!isSet(port)) e.add(`${p}.port`, 'required');
  else validateServerPort(e, `${p}.port`, port, unixBind);
  const hosts = list(server.hosts);
  if (hosts.length === 0) e.add(`${p}.hosts`, 'at least one host is required');
  hosts.forEach((host, i) => e.check(`${p}.hosts[${i}]`, gatewayHostProblem(host)));
  if (unixBind) e.check(`${p}.bind`, unixSocketPathProblem(bind.slice(UNIX_PREFIX.length), '/var/run/gateway.sock'));
  else if (bind !== '' && !isIPAddress(bind)) {
    e.add(`${p}.bind`, `must be an IP address or a unix:// socket path, got ${JSON.stringify(bind)}`);
  }
  const protocol = typeof port?.protocol === 'string' ? port.protocol.toUpperCase() : '';
  const terminatesTls = protocol === 'HTTPS' || protocol === 'TLS';
  const tls = server.tls;
  if (terminatesTls && !isSet(tls)) e.add(`${p}.tls`, `required for protocol ${protocol}`);
  // Istio checks the TLS settings whatever the protocol, so a bad block on an HTTP server is caught too.
  if (isSet(tls)) validateServerTls(e, `${p}.tls`, tls);
  if (PLAIN_HTTP.includes(protocol) && isSet(tls)) {
    // As Istio: a plain-text HTTP server may only redirect to HTTPS.
    const passthrough = !isSet(tls.mode) || tls.mode === 'PASSTHROUGH' || tls.mode === 'AUTO_PASSTHROUGH';
    if (!passthrough || tls.serverCertificate || tls.privateKey || tls.caCertificates) {
      e.add(`${p}.tls`, `only httpsRedirect may be set for protocol ${protocol}; use protocol HTTPS or TLS to serve TLS`);
    }
  } else if (protocol !== '' && !terminatesTls && isSet(tls) && protocolProblem(protocol) === undefined) {
    e.add(`${p}.tls`, `not allowed for protocol ${protocol}; use protocol HTTPS or TLS to serve TLS`);
  }
}

function validateServerPort(e: ErrorList, p: string, port: Port, unixBind: boolean): void {
  const number = port.number;
  e.check(`${p}.protocol`, protocolProblem(port.protocol));
  if (unixBind) {
    // A unix domain socket has no port: Envoy listens on the path alone.
    if (isSet(number) && number !== 0) {
      e.add(`${p}.number`, `must be 0 or unset when bind is a unix:// socket, got ${JSON.stringify(number)}`);
    }
  } else e.check(`${p}.number`, portProblem(number));
  if (!port.name) e.add(`${p}.name`, 'required');
  if (typeof port.targetPort === 'number' && port.targetPort > 0) {
    e.add(`${p}.targetPort`, 'has no effect on a Gateway server; remove it');
  }
}

/** `host` or `<namespace>/host`, where namespace is `*`, `.` or a namespace name. */
function gatewayHostProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `invalid host ${JSON.stringify(value)}: must be a string`;
  if (value === '') return 'host must not be empty';
  const slash = value.indexOf('/');
  const namespace = slash >= 0 ? value.slice(0, slash) : undefined;
  const host = slash >= 0 ? value.slice(slash + 1) : value;
  const quoted = JSON.stringify(value);
  if (namespace !== undefined) {
    if (namespace === '' || host === '') return `invalid host ${quoted}: neither the namespace nor the host after "/" may be empty`;
    if (host.includes('/')) return `invalid host ${quoted}: use <host> or <namespace>/<host>, e.g. prod/*.example.com`;
    // "~" is reserved for gateways Istio derives from Gateway API objects, never written by users.
    if (namespace !== '*' && namespace !== '.' && namespaceProblem(namespace)) {
      return `invalid namespace ${JSON.stringify(namespace)} in host ${quoted}: use "*", "." or a namespace name`;
    }
  }
  if (host !== '*' && !host.includes('.')) {
    return `invalid host ${quoted}: short names are not allowed; use a fully qualified name such as ${host}.example.com, or "*"`;
  }
  if (host.includes('*') && host !== '*' && !host.startsWith('*.')) {
    return `invalid host ${quoted}: a wildcard must be the whole first label, e.g. *.example.com, not ${JSON.stringify(host)}`;
  }
  return isIPAddress(host) ? undefined : hostProblem(host, { wildcard: true });
}

/** Where the server's certificate comes from; Istio allows at most one of these per server. */
function certificateSources(tls: ServerTLSSettings): string[] {
  const sources: string[] = [];
  if (tls.serverCertificate && tls.privateKey) sources.push('serverCertificate/privateKey');
  if (tls.credentialName) sources.push('credentialName');
  if (list(tls.credentialNames).length > 0) sources.push('credentialNames');
  if (list(tls.tlsCertificates).length > 0) sources.push('tlsCertificates');
  return sources;
}

export function validateServerTls(e: ErrorList, p: string, tls: ServerTLSSettings): void {
  const mode = tls.mode ?? 'PASSTHROUGH';
  if (mode === 'ISTIO_MUTUAL') {
    const set = (['serverCertificate', 'privateKey', 'caCertificates', 'credentialName', 'credentialNames', 'tlsCertificates'] as const)
      .filter((k) => isSet(tls[k]) && tls[k] !== '' && !(Array.isArray(tls[k]) && tls[k].length === 0));
    if (set.length > 0) e.add(p, `mode ISTIO_MUTUAL uses the mesh's certificates; remove ${set.join(', ')}`);
  } else {
    const sources = certificateSources(tls);
    if (sources.length > 1) {
      e.add(p, `set only one certificate source (credentialName, credentialNames, serverCertificate with privateKey, or tlsCertificates), got ${sources.join(' and ')}`);
    } else if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
      validateCertificateFiles(e, p, tls, mode);
    }
  }
  const min = TLS_VERSIONS.indexOf(tls.minProtocolVersion as TLSProtocolVersion);
  const max = TLS_VERSIONS.indexOf(tls.maxProtocolVersion as TLSProtocolVersion);
  if (min >= 0 && max >= 0 && min > max) {
    e.add(`${p}.minProtocolVersion`, `${tls.minProtocolVersion} is higher than maxProtocolVersion ${tls.maxProtocolVersion}`);
  }
}

function validateCertificateFiles(e: ErrorList, p: string, tls: ServerTLSSettings, mode: string): void {
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
