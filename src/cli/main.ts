#!/usr/bin/env node
// trellisctl: operate Trellis. Offline commands share their code with the control plane
// (validation with the webhook's rules, injection with the webhook's patch).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { dumpYaml } from '@kubernetes/client-node';
import { validateManifest } from '../api/validate.js';
import { injectPod } from '../webhooks/inject.js';
import { loadDocs } from './files.js';

const VERSION = '0.1.0';

const USAGE = `trellisctl: operate Trellis, a service mesh control plane

Usage: trellisctl COMMAND [options]

Commands:
  version                       print the version
  analyze -f FILE|DIR|- ...     validate networking.istio.io manifests with the webhook's rules;
                                exit 1 if any is invalid
  kube-inject -f FILE|-         print the manifests with the sidecar injected into their pods
                                (Pods, and the pod templates of Deployments, StatefulSets,
                                DaemonSets, ReplicaSets, Jobs, CronJobs), as the webhook would
      --proxy-image IMAGE       (default trellis/proxy:latest)
      --discovery-address H:P   (default trellis.trellis-system.svc:15010)
  help                          this help
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
  case undefined:
  case 'help':
  case '-h':
  case '--help':
    process.stdout.write(USAGE);
    break;
  default:
    fail(`unknown command "${cmd}"\n\n${USAGE}`);
}
