// Container environment and $(VAR) expansion with the kubelet's rules (pure functions).
import type { V1Container, V1Pod, V1Service } from '@kubernetes/client-node';

/**
 * Expands $(VAR) references the way the kubelet does: a defined name is replaced, an undefined
 * one is left as written, and $$ is an escaped $ (so $$(VAR) stays literal).
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = lookup(name);
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

export interface EnvSources {
  pod: V1Pod;
  podIp: string;
  hostIp: string;
  services: V1Service[];
  kubernetesSvcIp: string;
  configMap: (ns: string, name: string) => Record<string, string> | undefined;
  secret: (ns: string, name: string) => Record<string, string> | undefined;
}

function svcEnvName(name: string): string {
  return name.toUpperCase().replace(/-/g, '_');
}

/** Docker-link style variables for the Services of the pod's namespace, as the kubelet sets. */
export function serviceEnv(services: V1Service[], kubernetesSvcIp: string, enableLinks: boolean): Record<string, string> {
  const env: Record<string, string> = {
    KUBERNETES_SERVICE_HOST: kubernetesSvcIp,
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: `tcp://${kubernetesSvcIp}:443`,
    KUBERNETES_PORT_443_TCP: `tcp://${kubernetesSvcIp}:443`,
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: kubernetesSvcIp,
  };
  if (!enableLinks) return env;
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    const ports = svc.spec?.ports ?? [];
    if (!ip || ip === 'None' || ports.length === 0) continue;
    const n = svcEnvName(svc.metadata?.name ?? '');
    env[`${n}_SERVICE_HOST`] = ip;
    env[`${n}_SERVICE_PORT`] = String(ports[0].port);
    for (const p of ports) {
      if (p.name) env[`${n}_SERVICE_PORT_${svcEnvName(p.name)}`] = String(p.port);
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      env[`${n}_PORT_${p.port}_${proto.toUpperCase()}`] = `${proto}://${ip}:${p.port}`;
    }
    env[`${n}_PORT`] = `${(ports[0].protocol ?? 'TCP').toLowerCase()}://${ip}:${ports[0].port}`;
  }
  return env;
}

function fieldValue(pod: V1Pod, podIp: string, hostIp: string, fieldPath: string): string {
  const md = pod.metadata ?? {};
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return podIp;
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIp;
    default:
      throw new Error(`unsupported fieldRef.fieldPath "${fieldPath}"`);
  }
}

function resourceValue(container: V1Container, resource: string, divisor: string | undefined): string {
  const [kind, name] = resource.split('.');
  const q = (kind === 'limits' ? container.resources?.limits : container.resources?.requests)?.[name];
  if (name === 'cpu') {
    const cores = q === undefined ? 2 : q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q);
    const div = divisor?.endsWith('m') ? Number(divisor.slice(0, -1)) / 1000 : Number(divisor ?? 1);
    return String(Math.max(1, Math.ceil(cores / div)));
  }
  return String(q ?? 24 * 1024 * 1024 * 1024);
}

/** The container's environment: service links, then envFrom, then env, each expanded in order. */
export function containerEnv(container: V1Container, src: EnvSources): Record<string, string> {
  const ns = src.pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = serviceEnv(
    src.services.filter((s) => s.metadata?.namespace === ns),
    src.kubernetesSvcIp,
    src.pod.spec?.enableServiceLinks !== false,
  );
  for (const from of container.envFrom ?? []) {
    const data = from.configMapRef
      ? src.configMap(ns, from.configMapRef.name ?? '')
      : from.secretRef
        ? src.secret(ns, from.secretRef.name ?? '')
        : undefined;
    const optional = from.configMapRef?.optional ?? from.secretRef?.optional ?? false;
    if (!data) {
      if (optional) continue;
      throw new Error(`envFrom: ${from.configMapRef ? 'configmap' : 'secret'} "${from.configMapRef?.name ?? from.secretRef?.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[(from.prefix ?? '') + k] = v;
  }
  const lookup = (name: string): string | undefined => env[name];
  for (const e of container.env ?? []) {
    if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.fieldRef) env[e.name] = fieldValue(src.pod, src.podIp, src.hostIp, vf.fieldRef.fieldPath);
      else if (vf.resourceFieldRef) env[e.name] = resourceValue(container, vf.resourceFieldRef.resource, vf.resourceFieldRef.divisor as string | undefined);
      else if (vf.configMapKeyRef || vf.secretKeyRef) {
        const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
        const data = vf.configMapKeyRef ? src.configMap(ns, ref.name ?? '') : src.secret(ns, ref.name ?? '');
        const value = data?.[ref.key];
        if (value === undefined) {
          if (ref.optional) continue;
          throw new Error(`env ${e.name}: key "${ref.key}" of ${vf.configMapKeyRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
        }
        env[e.name] = value;
      }
    } else {
      env[e.name] = expand(e.value ?? '', lookup);
    }
  }
  return env;
}
