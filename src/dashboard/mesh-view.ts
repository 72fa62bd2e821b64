// What the mesh page shows, as the control plane sends it (GET /debug/mesh/state, and each
// `state` event of GET /debug/mesh/events): the connected proxies and their sync state, every
// config object with its rollout (how many of the proxies it reaches have ACKed its current
// generation), and the service graph from the proxies' own statistics. Plain JSON, no methods:
// the page (web/mesh.js) reads exactly this shape.

export type ProxySync = 'SYNCED' | 'STALE' | 'NACK';

export interface ProxyView {
  id: string;
  /** "sidecar", "router" (gateway) or "proxyless". */
  kind: string;
  namespace: string;
  pod: string;
  /** The workload the pod belongs to (Deployment, StatefulSet, Job, or the pod). */
  workload: string;
  connectedAt: string;
  /** SYNCED: has everything it should; STALE: a response is in flight or due; NACK: rejected one. */
  sync: ProxySync;
  /** The newest rejection's text, when sync is NACK. */
  nack?: string;
}

export interface ConfigView {
  kind: string;
  namespace: string;
  name: string;
  generation: number;
  /** False when the controller rejected the object (its last accepted version, if any, stays). */
  accepted: boolean;
  /** Validation errors, or warnings of an accepted object; empty when neither. */
  message: string;
  /** Proxies the object reaches (a change to it is pushed to them). */
  reached: number;
  /** Of those, how many have ACKed configuration built from the object's current generation. */
  upToDate: number;
  /** Proxies that rejected configuration since the object's current generation, and their text. */
  rejected: Array<{ proxy: string; message: string }>;
}

export interface GraphNode {
  /** "workload:<namespace>/<name>" or "service:<host>". */
  id: string;
  kind: 'workload' | 'service';
  namespace: string;
  /** The workload's name, or the service's host. */
  name: string;
}

export interface GraphEdge {
  source: string;
  target: string;
  /** Requests per second over the window. */
  rps: number;
  /** Share of responses that were 5xx over the window (0..1), 0 without requests. */
  errorRate: number;
  /** 99th percentile of the request duration in ms over the window; null without requests. */
  p99Ms: number | null;
}

export interface GraphView {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Seconds between the two scrapes the rates come from (0 before the second scrape). */
  windowSeconds: number;
  /** Proxies whose statistics were read, and those that could not be read (with why). */
  scraped: number;
  failed: Array<{ proxy: string; error: string }>;
}

export interface MeshView {
  generatedAt: string;
  proxies: ProxyView[];
  configs: ConfigView[];
  graph: GraphView;
}
