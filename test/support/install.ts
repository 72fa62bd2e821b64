// The e2e suite installs Trellis with its Helm chart (`helm upgrade --install`, so a second
// suite in the same run reuses it), its CRDs applied first. TRELLIS_E2E_INSTALLED=1 skips this
// when the caller installed Trellis already (the kind workflow installs the images it built).
import path from 'node:path';
import { IMAGE_TAG, kubeconfigPath, kubectlPath, pinnedVersion, PROXY_IMAGE, root, run } from './cluster.js';

export async function installTrellis(): Promise<void> {
  if (process.env.TRELLIS_E2E_INSTALLED === '1') return;
  // As an operator upgrades (scripts/deploy.sh): Helm installs crds/ with a release's first
  // install only, so a kind added since needs its CRD applied.
  const crds = await run(kubectlPath(), ['--kubeconfig', kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '-f', path.join(root, 'crds')]);
  if (crds.code !== 0) throw new Error(`applying crds/ failed: ${crds.stderr}`);
  await run(kubectlPath(), ['--kubeconfig', kubeconfigPath, 'wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  const helm = process.env.HELM ?? path.join(root, `.devcluster/cache/helm-${pinnedVersion('HELM_VERSION')}/helm`);
  // The images `make images` built (IMAGE_TAG), which the node has: nothing can be pulled.
  const r = await run(helm, ['upgrade', '--install', 'trellis', path.join(root, 'charts/trellis'), '--namespace', 'trellis-system', '--create-namespace', '--values', path.join(root, 'test/fixtures/e2e-values.yaml'), '--set', `image.tag=${IMAGE_TAG}`, '--set', `proxy.image=${PROXY_IMAGE}`, '--wait', '--timeout', '3m', '--kubeconfig', kubeconfigPath], { timeoutMs: 240_000 });
  if (r.code !== 0) throw new Error(`helm upgrade --install failed: ${r.stderr}`);
}
