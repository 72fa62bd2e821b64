#!/usr/bin/env node
// trellis-iptables: the sidecar's init container. Installs the capture rules in the pod's
// network namespace and prints them. Flags mirror the traffic.sidecar.istio.io annotations.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { CaptureOptionError, DEFAULT_CAPTURE, captureRules, parseCidrs, parsePorts, type CaptureOptions } from './iptables.js';

const USAGE = `trellis-iptables: install a sidecar's traffic capture rules (nat table)

Usage: trellis-iptables [options]

  --proxy-uid N                 UID whose traffic is never captured (default 1337)
  --proxy-gid N                 GID whose traffic is never captured (default 1337)
  --inbound-port N              where inbound TCP is redirected (default 15006)
  --outbound-port N             where outbound TCP is redirected (default 15001)
  --include-inbound-ports LIST  "*" (default) or ports to capture inbound
  --exclude-inbound-ports LIST  ports never captured inbound (the proxy's are always excluded)
  --include-outbound-cidrs LIST "*" (default) or CIDRs whose outbound traffic is captured
  --exclude-outbound-cidrs LIST CIDRs never captured outbound
  --include-outbound-ports LIST ports always captured outbound, whatever the CIDR
  --exclude-outbound-ports LIST ports never captured outbound
  --dry-run                     print the rules, change nothing
  -h, --help                    this help
`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`trellis-iptables: ${msg}\n`);
  process.exit(code);
}

let opts: CaptureOptions;
let dryRun = false;
try {
  const { values: v } = parseArgs({
    options: {
      'proxy-uid': { type: 'string' },
      'proxy-gid': { type: 'string' },
      'inbound-port': { type: 'string' },
      'outbound-port': { type: 'string' },
      'include-inbound-ports': { type: 'string' },
      'exclude-inbound-ports': { type: 'string' },
      'include-outbound-cidrs': { type: 'string' },
      'exclude-outbound-cidrs': { type: 'string' },
      'include-outbound-ports': { type: 'string' },
      'exclude-outbound-ports': { type: 'string' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (flag: string, value: string | undefined, dflt: number): number => {
    if (value === undefined) return dflt;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n > 65535) throw new CaptureOptionError(`--${flag}: "${value}" is not a number 0-65535`);
    return n;
  };
  const ports = (flag: string, dflt: string): number[] => parsePorts(`--${flag}`, (v as Record<string, string | undefined>)[flag] ?? dflt, false) as number[];
  opts = {
    proxyUid: int('proxy-uid', v['proxy-uid'], DEFAULT_CAPTURE.proxyUid),
    proxyGid: int('proxy-gid', v['proxy-gid'], DEFAULT_CAPTURE.proxyGid),
    inboundCapturePort: int('inbound-port', v['inbound-port'], DEFAULT_CAPTURE.inboundCapturePort),
    outboundCapturePort: int('outbound-port', v['outbound-port'], DEFAULT_CAPTURE.outboundCapturePort),
    includeInboundPorts: parsePorts('--include-inbound-ports', v['include-inbound-ports'] ?? '*', true),
    excludeInboundPorts: ports('exclude-inbound-ports', ''),
    includeOutboundCidrs: parseCidrs('--include-outbound-cidrs', v['include-outbound-cidrs'] ?? '*', true),
    excludeOutboundCidrs: parseCidrs('--exclude-outbound-cidrs', v['exclude-outbound-cidrs'] ?? '', false) as string[],
    includeOutboundPorts: ports('include-outbound-ports', ''),
    excludeOutboundPorts: ports('exclude-outbound-ports', ''),
  };
  dryRun = v['dry-run'] ?? false;
} catch (err) {
  fail(`${(err as Error).message}\n\n${USAGE}`);
}

const rules = captureRules(opts);
process.stdout.write(rules);
if (!dryRun) {
  const res = spawnSync('iptables-restore', ['--noflush'], { input: rules, encoding: 'utf8' });
  if (res.error) fail(`cannot run iptables-restore: ${res.error.message}`, 1);
  if (res.status !== 0) fail(`iptables-restore failed (exit ${res.status}): ${res.stderr.trim()}`, 1);
  process.stdout.write('trellis-iptables: rules installed\n');
}
