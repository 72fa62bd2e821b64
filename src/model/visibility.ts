// exportTo: which namespaces see a VirtualService, DestinationRule, ServiceEntry or Service.
// `*` is every namespace, `.` the object's own, `~` none, anything else a namespace name. An
// empty list takes the mesh-wide default for the kind (Istio honours only `.` and `*` there).

export const PUBLIC = '*';
export const PRIVATE = '.';
export const NONE = '~';

/** The annotation on a Kubernetes Service that sets its exportTo, comma separated. */
export const SERVICE_EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

/** Mesh-wide defaults (MeshConfig's defaultVirtualServiceExportTo and friends). */
export interface ExportToDefaults {
  virtualService: string[];
  destinationRule: string[];
  service: string[];
}

export const DEFAULT_EXPORT_TO: ExportToDefaults = { virtualService: [PUBLIC], destinationRule: [PUBLIC], service: [PUBLIC] };

/** Who sees an object: every namespace, or exactly these. */
export interface Visibility {
  public: boolean;
  namespaces: ReadonlySet<string>;
}

const NOBODY: Visibility = { public: false, namespaces: new Set() };
const EVERYONE: Visibility = { public: true, namespaces: new Set() };

/** The effective visibility of an object in `owner` with this exportTo list. */
export function visibilityOf(exportTo: readonly string[] | undefined, owner: string, defaults: readonly string[]): Visibility {
  if (!exportTo || exportTo.length === 0) {
    if (defaults.includes(PRIVATE)) return { public: false, namespaces: new Set([owner]) };
    if (defaults.includes(PUBLIC)) return EVERYONE;
    return NOBODY;
  }
  if (exportTo.includes(PUBLIC)) return EVERYONE;
  if (exportTo.includes(NONE)) return NOBODY;
  return { public: false, namespaces: new Set(exportTo.map((e) => (e === PRIVATE ? owner : e))) };
}

export function isVisibleTo(v: Visibility, namespace: string): boolean {
  return v.public || v.namespaces.has(namespace);
}

/**
 * Where an object stands for a client namespace, in Istio's order of preference: objects private
 * to the client's own namespace, then those exported to it by name, then public ones.
 * `undefined` when the client does not see it.
 */
export type VisibilityRank = 0 | 1 | 2;

export function visibilityRank(v: Visibility, owner: string, client: string): VisibilityRank | undefined {
  if (v.public) return 2;
  if (!v.namespaces.has(client)) return undefined;
  return owner === client ? 0 : 1;
}

/** The namespaces named by any of these visibilities (to enumerate the cases that differ). */
export function namedNamespaces(...vs: Visibility[]): Set<string> {
  const out = new Set<string>();
  for (const v of vs) for (const n of v.namespaces) out.add(n);
  return out;
}

/** Parses `networking.istio.io/exportTo: ".,team-b"`; no annotation means the default (`[]`). */
export function parseExportToAnnotation(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
