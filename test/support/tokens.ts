// Service account tokens from the real API server (the TokenRequest API), as a kubelet projects
// them into pods.
import { Rest } from '../../src/kube/rest.js';
import { ECHO_IMAGE, kube } from './cluster.js';

export interface TokenOptions {
  audiences?: string[];
  /** At least 600 (the API server's minimum). */
  expirationSeconds?: number;
  /** Binds the token to a pod: it names the pod, and dies with it. */
  pod?: { name: string; uid: string };
}

export function rest(): Rest {
  return new Rest(kube().kc);
}

export async function createServiceAccount(namespace: string, name: string): Promise<void> {
  await rest().post(`/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
}

export async function serviceAccountToken(namespace: string, serviceAccount: string, opts: TokenOptions = {}): Promise<string> {
  const res = await rest().post<{ status: { token: string } }>(`/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: opts.audiences ?? null,
      expirationSeconds: opts.expirationSeconds ?? 600,
      ...(opts.pod ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: opts.pod.name, uid: opts.pod.uid } } : {}),
    },
  });
  return res.status.token;
}

/** A pod that never runs (held by a scheduling gate): something for a token to be bound to. */
export async function heldPod(namespace: string, name: string, serviceAccount: string): Promise<{ name: string; uid: string }> {
  const pod = await rest().post<{ metadata: { name: string; uid: string } }>(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { serviceAccountName: serviceAccount, schedulingGates: [{ name: 'trellis.io/held-by-test' }], containers: [{ name: 'c', image: ECHO_IMAGE }] },
  });
  return { name: pod.metadata.name, uid: pod.metadata.uid };
}

/**
 * A token of service account `name` in `namespace` that may read the control plane's debug
 * pages: the RBAC the README names (get services/proxy on the trellis Service), granted here.
 */
export async function debugReaderToken(namespace: string, name = 'debug-reader', controlPlaneNamespace = 'trellis-system'): Promise<string> {
  await createServiceAccount(namespace, name).catch(() => undefined);
  const roleName = `trellis-debug-${namespace}`;
  await rest()
    .post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${controlPlaneNamespace}/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: roleName },
      rules: [{ apiGroups: [''], resources: ['services/proxy'], resourceNames: ['trellis'], verbs: ['get'] }],
    })
    .catch(() => undefined);
  await rest()
    .post(`/apis/rbac.authorization.k8s.io/v1/namespaces/${controlPlaneNamespace}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: roleName },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    })
    .catch(() => undefined);
  return serviceAccountToken(namespace, name, { expirationSeconds: 3600 });
}

/** Removes what debugReaderToken created. */
export async function removeDebugReader(namespace: string, name = 'debug-reader', controlPlaneNamespace = 'trellis-system'): Promise<void> {
  const roleName = `trellis-debug-${namespace}`;
  await rest().delete(`/apis/rbac.authorization.k8s.io/v1/namespaces/${controlPlaneNamespace}/rolebindings/${roleName}`).catch(() => undefined);
  await rest().delete(`/apis/rbac.authorization.k8s.io/v1/namespaces/${controlPlaneNamespace}/roles/${roleName}`).catch(() => undefined);
  await rest().delete(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}`).catch(() => undefined);
}
