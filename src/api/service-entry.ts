// ServiceEntry spec (networking.istio.io/v1): adds entries to the mesh's service registry.
import type { Labels, Port } from './common.js';

export type ServiceEntryLocation = 'MESH_EXTERNAL' | 'MESH_INTERNAL';

export type ServiceEntryResolution = 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'DYNAMIC_DNS';

export interface ServiceEntrySpec {
  hosts: string[];
  addresses?: string[];
  ports?: Port[];
  location?: ServiceEntryLocation;
  /** Defaults to NONE. */
  resolution?: ServiceEntryResolution;
  endpoints?: WorkloadEntry[];
  workloadSelector?: { labels?: Labels };
  exportTo?: string[];
  subjectAltNames?: string[];
}

/** An endpoint of a ServiceEntry (the WorkloadEntry shape). */
export interface WorkloadEntry {
  address?: string;
  /** Port numbers on the endpoint, keyed by the ServiceEntry's port names. */
  ports?: Record<string, number>;
  labels?: Labels;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}
