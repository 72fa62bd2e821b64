// Kubernetes client set-up: a kubeconfig file when one is given (a developer's machine), the
// pod's service account otherwise.
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) {
    kc.loadFromFile(path);
    return kc;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST) {
    throw new Error('no Kubernetes API to talk to: pass --kubeconfig (or set KUBECONFIG), or run in a pod');
  }
  kc.loadFromCluster();
  return kc;
}
