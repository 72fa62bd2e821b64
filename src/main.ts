#!/usr/bin/env node
// Composition root: parse options, wire the stages, handle signals. Nothing else lives here.
import fs from 'node:fs';
import { CONFIG_KINDS } from './api/common.js';
import { USAGE, UsageError, parseConfig, type ControlPlaneConfig } from './config.js';
import { DiscoveryController } from './controllers/discovery.js';
import type { MeshConfig } from './api/mesh-config.js';
import { parseMeshConfig } from './api/validate-mesh-config.js';
import { JwksResolver } from './controllers/jwks-resolver.js';
import { NetworkingController } from './controllers/networking.js';
import { loadKubeAccess } from './kube/access.js';
import { Rest } from './kube/rest.js';
import { ConfigStore, type ChangeSet } from './model/config-store.js';
import { jwksSources } from './model/jwks.js';
import { ServiceRegistry, type RegistryChange } from './model/services.js';
import { rememberedWarnings } from './model/warnings.js';
import { validationWarnings } from './api/validate.js';
import { MeshSource, ModelChanges } from './push/changes.js';
import { PushQueue } from './push/push-queue.js';
import { MeshSnapshotProvider } from './translate/provider.js';
import { loggerFor, setLogLevel } from './util/logger.js';
import { registry } from './util/metrics.js';
import { DebugError, startMonitoring } from './util/monitoring.js';
import { caBundleUpkeep } from './webhooks/ca-bundle-upkeep.js';
import { CertManager } from './webhooks/cert-manager.js';
import { startAdmissionThread } from './webhooks/admission-thread.js';
import { configDump } from './xds/config-dump.js';
import { XdsServer } from './xds/server.js';
import { ServingIdentity } from './xds/tls.js';
import { ALL_TYPES } from './xds/types.js';
import type * as grpc from '@grpc/grpc-js';
import type { MeshCa } from './ca/authority.js';
import { CaController } from './ca/ca-controller.js';
import { addCertificateService } from './ca/certificate-service.js';
import { RootPublisher } from './ca/root-publisher.js';
import { TokenAuthenticator, tokenReviewVia } from './ca/token-review.js';
import { xdsAuthenticator } from './ca/xds-authenticator.js';
import { debugAccess } from './kube/debug-access.js';
import { RolloutReporter } from './controllers/rollout-status.js';
import type { RolloutProxy } from './push/rollout.js';
import type { Proxy } from './xds/proxy-registry.js';
import { MeshPage } from './dashboard/mesh-page.js';
import { meshView, type ProxyFacts } from './dashboard/mesh-state.js';
import { scrapeTargets, servicesOfWorkloads, TrafficWatch } from './dashboard/traffic-watch.js';

const log = loggerFor('main');
/** Lifetime of the control plane's xDS serving certificate (reissued daily). */
const XDS_CERT_DAYS = 30;

async function run(config: ControlPlaneConfig): Promise<void> {
  let ready = false;
  // Registered first: a SIGTERM during start-up (an API server still unreachable) stops cleanly too.
  const closers: (() => void | Promise<void>)[] = [];
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    ready = false;
    log.info('stopping', { signal });
    Promise.all(closers.reverse().map((c) => c()))
      .then(() => {
        log.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error('stop failed', { error: String(err) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Istio's MeshConfig, read once: a bad file stops the start here, naming the field.
  let meshConfig: MeshConfig = {};
  try {
    if (config.meshConfigPath) meshConfig = parseMeshConfig(fs.readFileSync(config.meshConfigPath, 'utf8'), config.meshConfigPath);
  } catch (err) {
    log.error('cannot use the mesh configuration', { error: (err as Error).message });
    process.exit(2);
  }
  if (config.meshConfigPath) log.info('mesh configuration read', { file: config.meshConfigPath, extensionProviders: (meshConfig.extensionProviders ?? []).map((p) => p.name), trustDomainAliases: meshConfig.trustDomainAliases });
  const kc = await loadKubeAccess(config.kubeconfig);
  const rest = new Rest(kc);
  const store = new ConfigStore();
  const services = new ServiceRegistry();
  const changes = loggerFor('model');
  // The keys RequestAuthentications name by URL, fetched here and inlined into the proxies' filters.
  const jwks = new JwksResolver({ log: loggerFor('jwks'), onChange: (c) => modelChanges.onJwksChange(c) });
  closers.push(() => jwks.close());
  // Model changes rebuild the mesh lazily and push what they can affect, debounced.
  const meshSource = new MeshSource(store, services, {
    rootNamespace: config.rootNamespace,
    trustDomain: config.trustDomain,
    jwks: (s) => jwks.state(s),
    extensionProviders: meshConfig.extensionProviders,
    trustDomainAliases: meshConfig.trustDomainAliases,
    accessLogs: { defaultProviders: meshConfig.defaultProviders, accessLogEncoding: meshConfig.accessLogEncoding, accessLogFormat: meshConfig.accessLogFormat },
  });
  const provider = new MeshSnapshotProvider(() => meshSource.current(), { outboundPolicy: config.outboundTrafficPolicy });
  const xds = new XdsServer({ provider, limits: config.xdsLimits, podServiceAccount: (ns, pod) => services.podServiceAccount(ns, pod), epoch: () => meshSource.epoch });
  // Each config object's rollout (its Reconciled condition): ACKs, NACKs and proxies move it.
  const rollouts = new RolloutReporter({
    rootNamespace: meshSource.rootNamespace,
    proxies: () => xds.registry.list().map(rolloutProxy),
    mesh: () => meshSource.current(),
    onMoved: (kind, objects) => controllers.find((ctl) => ctl.kind === kind)?.rolloutChanged(objects),
  });
  const dirty = (): void => rollouts.markDirty();
  xds.events.on('ack', () => rollouts.markDirty('progress')).on('nack', dirty);
  xds.registry.on('connect', dirty).on('disconnect', dirty);
  const pushes = new PushQueue(xds, config.debounce);
  // Warnings on one object depend on others (a subset defined by a DestinationRule, a host
  // that is a Service): once changes settle, the controllers look at every status again.
  const modelChanges = new ModelChanges({
    mesh: meshSource,
    queue: pushes,
    connected: () => xds.registry.list().map(rolloutProxy),
    onSettled: () => controllers.forEach((ctl) => ctl.recheck()),
  });
  const onModelChange = (c: ChangeSet | RegistryChange): void => {
    changes.debug('model changed', { ...c });
    if ('op' in c && c.kind === 'RequestAuthentication') jwks.sync(jwksSources(store.list('RequestAuthentication')));
    modelChanges.onChange(c);
    if ('op' in c) {
      rollouts.tracker.record(c, meshSource.epoch, store.get(c.kind, c.namespace, c.name));
      rollouts.markDirty();
    }
  };
  const tokens = new TokenAuthenticator(tokenReviewVia(rest));
  const discovery = new DiscoveryController({
    kc,
    registry: services,
    log: loggerFor('controller/discovery'),
    onChange: onModelChange,
    onPodGone: (ns, name, uid) => tokens.forgetPod(ns, name, uid),
    stallMs: config.watchStallMs,
  });
  const meshWarnings = rememberedWarnings();
  const controllers = CONFIG_KINDS.map(
    (kind) =>
      new NetworkingController(kind, {
        kc,
        rest,
        store,
        log: loggerFor(`controller/${kind}`),
        onChange: onModelChange,
        stallMs: config.watchStallMs,
        warnings: (c) => [...validationWarnings(c.kind, c.spec, c.namespace).map((w) => `${w.path}: ${w.message}`), ...meshWarnings(c, meshSource.current())],
        rollout: (c) => rollouts.rolloutOf(c.kind, c.namespace, c.name),
        configIdleForMs: () => pushes.configIdleForMs(),
      }),
  );

  // The mesh page's graph: the connected proxies' statistics, read at their pods' IPs as the
  // API server gives them (never an address a proxy claims), only while the page is watched.
  const traffic = new TrafficWatch({
    log: loggerFor('mesh-page'),
    targets: () => scrapeTargets(xds.registry.list().map((p) => p.info), (ns, name) => services.podByName(ns, name)),
    servicesOf: () => servicesOfWorkloads(services.listServices(), services.listPods(), (ns, name) => services.endpoints(ns, name)),
  });
  closers.push(() => traffic.stop());
  const meshPage = new MeshPage({
    log: loggerFor('mesh-page'),
    watched: (on) => traffic.watched(on),
    view: () =>
      meshView({
        proxies: xds.registry.list().map(proxyFacts),
        configs: controllers.flatMap((ctl) => ctl.views()),
        rollouts: rollouts.snapshot(),
        graph: traffic.graph(),
        now: new Date(),
      }),
  });
  closers.push(() => meshPage.close());
  const monitoring = await startMonitoring({
    host: config.monitoringHost,
    port: config.monitoringPort,
    registry,
    isReady: () => ready,
    log: loggerFor('monitoring'),
    authorizeDebug: debugAccess(rest, { namespace: config.namespace, service: config.serviceName }),
    debug: {
      configz: () => store.list(),
      registryz: () => ({ counts: services.counts, services: services.listServices() }),
      syncz: () => xds.registry.list().map((p) => p.status()),
      config_dump: configDumpHandler(xds, provider),
      ...meshPage.pages(),
    },
  });
  closers.push(() => monitoring.close());

  const certs = new CertManager({
    rest,
    log: loggerFor('webhooks'),
    namespace: config.namespace,
    secretName: config.certSecret,
    dnsNames: config.webhookDnsNames,
    ips: config.webhookIps,
    validatingConfigs: [config.validatingWebhookConfig],
    mutatingConfigs: [config.mutatingWebhookConfig],
  });
  const serving = await certs.ensure();
  const admission = await startAdmissionThread({
    host: config.webhookHost,
    port: config.webhookPort,
    certificate: serving,
    injection: { proxyImage: config.proxyImage, discoveryAddress: config.discoveryAddress, proxyUid: 1337, clusterDomain: 'cluster.local', trustDomain: config.trustDomain, prometheusMerge: meshConfig.enablePrometheusMerge },
    log: loggerFor('webhooks'),
  });
  closers.push(() => admission.close());
  await certs.patchCaBundles();
  const upkeep = caBundleUpkeep({ kc, certs, admission, mutatingConfig: config.mutatingWebhookConfig, validatingConfig: config.validatingWebhookConfig, log: loggerFor('webhooks') });

  // The mesh CA: workload certificates for authenticated pods, the root in every namespace, and
  // the control plane's own certificate for 15012, which proxies verify against that root.
  const caLog = loggerFor('ca');
  // The CA follows cacerts and istio-ca-secret while running: a new root is published (beside
  // the old, kept until the certificates it signed have expired) before the CA signs with it and
  // before 15012 serves a certificate of it.
  const issueXdsCert = (signer: MeshCa): Promise<{ cert: string; key: string }> => signer.issueServing(config.webhookDnsNames, XDS_CERT_DAYS, { ips: config.webhookIps });
  const caController = new CaController({
    kc,
    rest,
    namespace: config.namespace,
    secretName: config.caSecret,
    trustDomain: config.trustDomain,
    log: caLog,
    maxTtlSeconds: config.maxWorkloadCertTtlSeconds,
    retainMs: config.maxWorkloadCertTtlSeconds * 1000,
    propagationMs: config.caRootPropagationMs,
  });
  await caController.load();
  closers.push(() => caController.stop());
  const rootPublisher = new RootPublisher({ kc, rootPem: caController.bundle, log: caLog, namespaceSelector: config.rootCertNamespaces || undefined });
  closers.push(() => rootPublisher.stop());
  const xdsIdentity = new ServingIdentity(await issueXdsCert(caController.ca), caController.bundle);
  caController.listen({
    onBundle: (bundle) => {
      rootPublisher.setRoot(bundle);
      xdsIdentity.setClientCa(bundle);
    },
    onSigning: (signer) => {
      issueXdsCert(signer).then(
        (pair) => {
          xdsIdentity.update(pair);
          caLog.info('reissued the xDS serving certificate from the new CA');
        },
        (err: unknown) => caLog.error('cannot reissue the xDS serving certificate', { error: String(err) }),
      );
    },
  });
  // Reissued daily, long before it expires; new connections get the new one.
  const reissue = setInterval(() => {
    issueXdsCert(caController.ca).then(
      (pair) => xdsIdentity.update(pair),
      (err: unknown) => caLog.error('cannot reissue the xDS serving certificate', { error: String(err) }),
    );
  }, 86_400_000);
  reissue.unref();
  closers.push(() => clearInterval(reissue));
  closers.push(() => upkeep.stop());
  closers.push(() => controllers.forEach((c) => c.stop()));
  closers.push(() => discovery.stop());
  closers.push(() => modelChanges.close());

  await Promise.all([...controllers.map((c) => c.start()), discovery.start(), upkeep.start(), rootPublisher.start(), caController.watch()]);
  // Serve proxies only once the model holds the whole cluster: a proxy must never be told
  // that a service it uses does not exist because the watch had not delivered it yet.
  const certificateService = (server: grpc.Server): void =>
    addCertificateService(server, { ca: caController.signer, tokens, trustDomain: config.trustDomain, defaultTtlSeconds: config.workloadCertTtlSeconds, maxTtlSeconds: config.maxWorkloadCertTtlSeconds, log: caLog });
  if (config.xdsTlsAddress) {
    await xds.listen(config.xdsTlsAddress, xdsIdentity.credentials(), { kind: 'authenticated', authenticate: xdsAuthenticator(tokens, config.trustDomain) }, certificateService);
  }
  if (config.xdsAddress) {
    log.warn('plaintext xDS is on: unauthenticated, for debugging and trusted proxyless clients (never sent a Secret)', { address: config.xdsAddress });
    await xds.listen(config.xdsAddress, undefined, { kind: 'plaintext' });
  }
  closers.push(() => xds.close());
  closers.push(() => pushes.close());
  rollouts.start();
  closers.push(() => rollouts.stop());
  ready = true;
  log.info('trellis started', { configs: store.size, webhook: `${config.webhookHost}:${admission.port}` });
}

/** A connected proxy as the rollout reads it. */
function rolloutProxy(p: Proxy): RolloutProxy {
  return { id: p.id, kind: p.info.kind, namespace: p.info.namespace, labels: p.info.labels, syncedEpoch: (t) => p.syncedEpoch(t), rejected: (t) => p.rejected(t) };
}

/** A connected proxy as the mesh page shows it. */
function proxyFacts(p: Proxy): ProxyFacts {
  return {
    id: p.id,
    kind: p.info.kind,
    namespace: p.info.namespace,
    podName: p.info.podName,
    labels: p.info.labels,
    connectedAt: p.connectedAt,
    sync: p.syncState(ALL_TYPES),
    lastNack: p.nacks.at(-1)?.message,
  };
}

/** /debug/config_dump?proxy=<node id, or pod.namespace>: what Trellis gives that proxy, readable. */
function configDumpHandler(xds: XdsServer, provider: MeshSnapshotProvider): (q: URLSearchParams) => Promise<unknown> {
  return async (q) => {
    const want = q.get('proxy') ?? '';
    const proxy = xds.registry.list().find((p) => p.id === want || `${p.info.podName}.${p.info.namespace}` === want);
    if (!proxy) throw new DebugError(`no connected proxy "${want}" (give its node id or <pod>.<namespace>; /debug/syncz lists them)`);
    return { id: proxy.id, resources: configDump(await provider.snapshot(proxy.info, new Set(ALL_TYPES))) };
  };
}

function main(): void {
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`trellis: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  setLogLevel(config.logLevel);
  run(config).catch((err: unknown) => {
    log.error('fatal', { error: err instanceof Error ? err.stack : String(err) });
    process.exit(1);
  });
}

main();
