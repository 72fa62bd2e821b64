// Cluster DNS records: dnsmasq serves a hosts file written from the API's Services.
import fs from 'node:fs';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';

/** Lines of a hosts file: `<ip> <name>.<ns>.svc.<domain>` for every Service (pure). */
export function hostsFile(services: V1Service[], slices: V1EndpointSlice[], domain: string): string {
  const lines: string[] = [];
  for (const svc of services) {
    const name = svc.metadata?.name;
    const ns = svc.metadata?.namespace;
    const fqdn = `${name}.${ns}.svc.${domain}`;
    const ip = svc.spec?.clusterIP;
    if (svc.spec?.type === 'ExternalName') continue;
    if (ip && ip !== 'None') {
      lines.push(`${ip}\t${fqdn}`);
      continue;
    }
    // Headless: one record per ready endpoint, plus <hostname>.<svc> names.
    for (const slice of slices) {
      if (slice.metadata?.namespace !== ns || slice.metadata?.labels?.['kubernetes.io/service-name'] !== name) continue;
      for (const ep of slice.endpoints) {
        if (ep.conditions?.ready === false) continue;
        for (const addr of ep.addresses) {
          lines.push(`${addr}\t${fqdn}`);
          if (ep.hostname) lines.push(`${addr}\t${ep.hostname}.${fqdn}`);
        }
      }
    }
  }
  return lines.sort().join('\n') + '\n';
}

/** Writes the hosts file when it changed and tells dnsmasq to reload it. */
export function publishHosts(file: string, content: string, dnsmasqPidFile: string): boolean {
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (old === content) return false;
  fs.writeFileSync(file + '.tmp', content);
  fs.renameSync(file + '.tmp', file);
  try {
    process.kill(Number(fs.readFileSync(dnsmasqPidFile, 'utf8').trim()), 'SIGHUP');
  } catch {
    /* dnsmasq not up yet: it reads the file when it starts */
  }
  return true;
}
