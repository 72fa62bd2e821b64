// From model changes to pushes: the current Mesh is rebuilt lazily after a change (a Mesh is an
// immutable snapshot), and each change becomes a push of the types it can affect. An
// endpoint-only change pushes EDS alone.
import { Mesh, type MeshOptions } from '../model/mesh.js';
import type { ChangeSet, ConfigStore } from '../model/config-store.js';
import type { RegistryChange, ServiceRegistry } from '../model/services.js';
import { TypeUrl } from '../xds/types.js';
import type { Change } from './push-queue.js';

export class MeshSource {
  private mesh: Mesh | undefined;
  constructor(
    private readonly store: ConfigStore,
    private readonly registry: ServiceRegistry,
    private readonly opts: MeshOptions = {},
  ) {}

  /** The mesh as of now; built at most once between two changes. */
  current(): Mesh {
    return (this.mesh ??= new Mesh(this.store, this.registry, { pods: () => this.registry.listPods(), ...this.opts }));
  }

  invalidate(): void {
    this.mesh = undefined;
  }
}

export function pushFor(change: ChangeSet | RegistryChange): Change {
  if ('op' in change) return { reason: 'config' };
  switch (change.kind) {
    case 'EndpointSlice':
      return { reason: 'endpoints', types: [TypeUrl.Endpoint] };
    case 'Pod':
      // A pod's labels decide its subsets (EDS) and its own inbound listeners.
      return { reason: 'pods', types: [TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Cluster] };
    case 'Secret':
      return { reason: 'secrets', types: [TypeUrl.Secret] };
    default:
      return { reason: change.kind === 'Service' ? 'services' : 'namespaces' };
  }
}
