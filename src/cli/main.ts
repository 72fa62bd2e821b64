#!/usr/bin/env node
// trellisctl: operate Trellis. Offline commands share their code with the control plane
// (validation with the webhook's rules, injection with the webhook's patch).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { dumpYaml } from '@kubernetes/client-node';
import { validateManifest } from '../api/validate.js';
import { injectPod } from '../webhooks/inject.js';
import { ControlPlane, ControlPlaneError, DEFAULT_CONTROL_PLANE, findProxy, type SyncStatus } from './control-plane.js';
import { loadDocs } from './files.js';
import { CONFIG_KINDS, proxyConfigJson, proxyConfigTable, resourcesOf, type ConfigKind } from './proxy-config.js';
import { proxyStatusTable } from './proxy-status.js';
import { openBrowser, startDashboardProxy } from './dashboard.js';

const VERSION = '0.1.0';

const USAGE = `trellisctl: operate Trellis, a service mesh control plane

Usage: trellisctl COMMAND [options]

Commands:
  version                       print the version
  analyze -f FILE|DIR|- ...     validate networking.istio.io and security.istio.io manifests
                                (AuthorizationPolicy, RequestAuthentication, PeerAuthentication)
                                with the webhook's rules;
                                exit 1 if any is invalid
  kube-inject -f FILE|-         print the manifests with the sidecar injected into their pods
                                (Pods, and the pod templates of Deployments, StatefulSets,
                                DaemonSets, ReplicaSets, Jobs, CronJobs), as the webhook would
      --proxy-image IMAGE       (default trellis/proxy:latest)
      --discovery-address H:P   (default trellis.trellis-system.svc:15010)
  proxy-status                  each proxy connected to the control plane: the version it
                                has ACKed per type (CDS, LDS, EDS, RDS; "(N)" resources), what
                                is still being sent, and its last NACK
  proxy-config KIND POD [-n NS] what Trellis sends the proxy of POD (or POD.NS, or a node id);
                                KIND: clusters, listeners, routes, endpoints, secrets
                                (SDS: names, type, expiry; keys never shown), or
                                authorization (the RBAC, ext_authz and JWT filters per chain)
  dashboard                     open the mesh page (service graph, each config object's
                                rollout, each proxy's sync) in the browser, through a local
                                server on 127.0.0.1 that adds --token-file's token; runs
                                until interrupted
      --port N                  the local port (default: any free one)
      --no-browser              print the URL only
  help                          this help

Options of proxy-status, proxy-config and dashboard:
      --control-plane URL       the control plane's monitoring port (env TRELLIS_CONTROL_PLANE,
                                default ${DEFAULT_CONTROL_PLANE}); e.g. the trellis Service's
                                ClusterIP, or \`kubectl -n trellis-system port-forward svc/trellis 15014\`.
                                Repeat it (or comma-separate the env) for every replica: a
                                proxy is connected to one of them
      --token-file FILE         a bearer token for the debug pages (env TRELLIS_TOKEN_FILE):
                                from anywhere but loopback (a port-forward arrives on
                                loopback), its user must be allowed to get services/proxy on
                                the trellis Service, e.g. \`kubectl create token NAME\` of a
                                service account with that permission
  -o, --output table|json       json prints the raw data (default table)
`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`trellisctl: ${msg}\n`);
  process.exit(code);
}

const stdin = (): string => fs.readFileSync(0, 'utf8');

function analyze(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { f: { type: 'string', short: 'f', multiple: true }, namespace: { type: 'string', short: 'n' } } });
  if (!values.f?.length) fail('analyze: give manifests with -f FILE|DIR|- (repeatable)');
  let docs;
  try {
    docs = loadDocs(values.f, stdin);
  } catch (err) {
    fail(`analyze: ${(err as Error).message}`, 1);
  }
  let bad = 0;
  let checked = 0;
  for (const { source, doc } of docs) {
    const res = validateManifest(doc, values.namespace ?? 'default');
    if (!res) continue;
    checked++;
    for (const m of res.messages) process.stdout.write(`Error [${source}] ${m}\n`);
    for (const w of res.warnings) process.stdout.write(`Warning [${source}] ${w}\n`);
    if (res.messages.length) bad++;
  }
  process.stdout.write(bad ? `\n${bad} of ${checked} networking objects are invalid\n` : `✔ ${checked} networking objects are valid\n`);
  return bad ? 1 : 0;
}

const TEMPLATE_PATHS: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

function kubeInject(argv: string[]): number {
  const { values } = parseArgs({ args: argv, options: { f: { type: 'string', short: 'f', multiple: true }, 'proxy-image': { type: 'string' }, 'discovery-address': { type: 'string' } } });
  if (!values.f?.length) fail('kube-inject: give manifests with -f FILE|-');
  const opts = {
    proxyImage: values['proxy-image'] ?? 'trellis/proxy:latest',
    discoveryAddress: values['discovery-address'] ?? 'trellis.trellis-system.svc:15010',
    proxyUid: 1337,
    clusterDomain: 'cluster.local',
  };
  const out: string[] = [];
  for (const { source, doc } of loadDocs(values.f, stdin)) {
    const obj = doc as { kind?: string; metadata?: { name?: string } } & Record<string, unknown>;
    const podPath = obj.kind === 'Pod' ? [] : TEMPLATE_PATHS[obj.kind ?? ''];
    if (podPath) {
      let parent: Record<string, unknown> = obj;
      for (const k of podPath.slice(0, -1)) parent = (parent[k] ?? {}) as Record<string, unknown>;
      const key = podPath[podPath.length - 1];
      const pod = (podPath.length ? parent[key] : obj) as V1Pod;
      const res = injectPod(pod, opts);
      if ('rejected' in res) {
        // What the webhook would refuse: say so and stop, rather than print a pod that would not be admitted.
        process.stderr.write(`${source}: ${obj.kind}/${obj.metadata?.name}: the injection webhook would reject this pod: ${res.rejected}\n`);
        return 1;
      }
      for (const w of res.warnings) process.stderr.write(`${source}: ${obj.kind}/${obj.metadata?.name}: ${w}\n`);
      if ('injected' in res) {
        if (podPath.length) parent[key] = res.injected;
        else Object.assign(obj, res.injected);
      }
    }
    out.push(dumpYaml(obj));
  }
  process.stdout.write(out.join('---\n'));
  return 0;
}

const controlPlaneOptions = {
  'control-plane': { type: 'string', multiple: true },
  'token-file': { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

function output(v: string | undefined): 'table' | 'json' {
  const o = v ?? 'table';
  if (o !== 'table' && o !== 'json') fail(`-o: want table or json, got "${o}"`);
  return o;
}

function controlPlanes(urls: string[] | undefined, tokenFile: string | undefined): ControlPlane[] {
  const list = urls?.length ? urls : (process.env.TRELLIS_CONTROL_PLANE ?? DEFAULT_CONTROL_PLANE).split(',').map((u) => u.trim()).filter(Boolean);
  const file = tokenFile ?? process.env.TRELLIS_TOKEN_FILE;
  let token: string | undefined;
  if (file) {
    try {
      token = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      fail(`--token-file: cannot read ${file}: ${(err as Error).message}`);
    }
  }
  return [...new Set(list)].map((u) => new ControlPlane(u, token));
}

/** Every control plane's proxies (all must answer: a missing replica would hide its proxies). */
async function allProxies(cps: ControlPlane[]): Promise<{ cp: ControlPlane; proxies: SyncStatus[] }[]> {
  return Promise.all(cps.map(async (cp) => ({ cp, proxies: await cp.syncz() })));
}

async function proxyStatus(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: controlPlaneOptions });
  const out = output(values.output);
  const answers = await allProxies(controlPlanes(values['control-plane'], values['token-file']));
  if (out === 'json') {
    const json = answers.length === 1 ? answers[0].proxies : Object.fromEntries(answers.map((a) => [a.cp.base, a.proxies]));
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
    return 0;
  }
  const origin = new Map(answers.flatMap((a) => a.proxies.map((p) => [p, new URL(a.cp.base).host] as const)));
  process.stdout.write(proxyStatusTable(answers.flatMap((a) => a.proxies), new Date(), answers.length > 1 ? (p) => origin.get(p) ?? '?' : undefined));
  return 0;
}

async function proxyConfig(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...controlPlaneOptions, namespace: { type: 'string', short: 'n' } } });
  const [kind, pod, ...extra] = positionals;
  if (!kind || !(CONFIG_KINDS as readonly string[]).includes(kind)) fail(`proxy-config: want a kind (${CONFIG_KINDS.join(', ')}), got ${kind ? `"${kind}"` : 'none'}`);
  if (!pod) fail(`proxy-config ${kind}: name the pod: proxy-config ${kind} POD [-n NAMESPACE]`);
  if (extra.length) fail(`proxy-config: unexpected arguments: ${extra.join(' ')}`);
  const out = output(values.output);
  // Ask the control plane the proxy is connected to (with replicas, one of several).
  const answers = await allProxies(controlPlanes(values['control-plane'], values['token-file']));
  const all = answers.flatMap((a) => a.proxies);
  const proxy = findProxy(all, pod, values.namespace);
  const cp = answers.find((a) => a.proxies.includes(proxy))!.cp;
  const dump = await cp.configDump(proxy.id);
  process.stdout.write(out === 'json' ? proxyConfigJson(dump, kind as ConfigKind) : proxyConfigTable(kind as ConfigKind, resourcesOf(dump, kind as ConfigKind)));
  return 0;
}

async function dashboard(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'control-plane': { type: 'string' }, 'token-file': { type: 'string' }, port: { type: 'string' }, 'no-browser': { type: 'boolean' } } });
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: want a port number, got "${values.port}"`);
  const [cp] = controlPlanes(values['control-plane'] ? [values['control-plane']] : undefined, values['token-file']);
  await cp.syncz(); // fails now, with what to do, if the control plane cannot be reached or refuses
  const proxy = await startDashboardProxy({ controlPlane: cp.base, token: cp.bearer, port });
  process.stdout.write(`the mesh page of ${cp.base} is at ${proxy.url} (Ctrl-C to stop)\n`);
  if (!values['no-browser'] && !(await openBrowser(proxy.url))) process.stdout.write('no browser could be opened here: open the URL above\n');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await proxy.close();
  return 0;
}

/** Runs an online command; a ControlPlaneError (or a bad flag) is a message, not a stack. */
function online(fn: (argv: string[]) => Promise<number>, argv: string[]): void {
  fn(argv).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof ControlPlaneError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) fail((err as Error).message, err instanceof ControlPlaneError ? 1 : 2);
      throw err;
    },
  );
}

const [cmd, ...rest] = process.argv.slice(2);
switch (cmd) {
  case 'version':
  case '--version':
    process.stdout.write(`trellisctl ${VERSION}\n`);
    break;
  case 'analyze':
    process.exit(analyze(rest));
    break;
  case 'kube-inject':
    process.exit(kubeInject(rest));
    break;
  case 'proxy-status':
    online(proxyStatus, rest);
    break;
  case 'proxy-config':
    online(proxyConfig, rest);
    break;
  case 'dashboard':
    online(dashboard, rest);
    break;
  case undefined:
  case 'help':
  case '-h':
  case '--help':
    process.stdout.write(USAGE);
    break;
  default:
    fail(`unknown command "${cmd}"\n\n${USAGE}`);
}
