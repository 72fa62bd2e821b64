// @ts-check
/*
 * The mesh page (web/mesh.html): what the control plane knows about its proxies, its config
 * objects' rollout, and the service graph. Plain ES2020, no build step, no library, nothing from
 * the network but the control plane itself.
 *
 * URLs requested. mesh.html (served at /debug/mesh, no trailing slash) loads mesh/mesh.css and
 * mesh/mesh.js, i.e. /debug/mesh/mesh.css and /debug/mesh/mesh.js; this script resolves its own
 * requests against its own URL, so all of them follow the page under any prefix a proxy adds:
 *   GET /debug/mesh/events  Server-Sent Events; each `event: state` carries a MeshView as JSON.
 *   GET /debug/mesh/state   the same MeshView, polled every 2 s while the event stream is down.
 *
 * DOM hooks (stable for the e2e tests):
 *   #status                 connection: data-state="connecting" | "live" | "disconnected";
 *                           text "disconnected, retrying" while the event stream is down
 *   #updated                last update; data-generated-at = the MeshView's generatedAt
 *   #counts [data-count=K]  header counts, K in proxies, synced, stale, nack, configs, rolling
 *                           (not fully rolled out), rejected (not accepted); the number in data-value
 *   #filter-namespace, #filter-text, #show-idle   the filters (apply to graph and both tables)
 *   #graph svg              the service graph (always there; with text.empty when nothing to draw)
 *     g.node[data-id][data-kind]   one per drawn GraphNode; class service|workload, and
 *                           health-nack|health-stale when a proxy of that workload is NACK|STALE
 *     g.edge[data-source][data-target][data-rps][data-error-rate][data-p99-ms]   one per drawn
 *                           edge; class "error" too when errorRate > 0, "back" when drawn backwards
 *                           (one edge of a cycle); text.label when at most 80 edges are drawn
 *   #graph-hidden           "N more nodes hidden, filter to see them"; data-hidden=N (0: hidden)
 *   #graph-caption, #graph-failed (details listing the proxies whose statistics could not be read)
 *   #configs tbody tr[data-config="Kind/namespace/name"][data-up-to-date][data-reached][data-accepted]
 *     .nack                 one per rejected[] entry (proxy id in .nack-proxy, text in .nack-text)
 *     .message              the config's message (class "error" when not accepted, else "warning")
 *   #configs-more           "N more configs, filter to see them"; data-hidden=N
 *   #proxies tbody tr[data-proxy=id][data-sync=SYNCED|STALE|NACK]
 *     .sync                 the sync state; .nack the rejection text (only when NACK)
 *   #proxies-more           "N more proxies, filter to see them"; data-hidden=N
 * Order: configs NACKed first, then not fully rolled out, then not accepted; proxies NACK, STALE,
 * SYNCED. Header counts are of the whole mesh; the filters apply to the graph and both tables.
 *
 * Everything the server sends is attacker-influenced (object names, NACK texts): it reaches the
 * DOM only as textContent or attribute values, never as markup.
 */

/**
 * The shapes the server sends (src/dashboard/mesh-view.ts), and the page's own.
 * @typedef {import('../src/dashboard/mesh-view.js').MeshView} MeshView
 * @typedef {import('../src/dashboard/mesh-view.js').ProxyView} ProxyView
 * @typedef {import('../src/dashboard/mesh-view.js').ConfigView} ConfigView
 * @typedef {import('../src/dashboard/mesh-view.js').GraphView} GraphView
 * @typedef {import('../src/dashboard/mesh-view.js').GraphNode} GraphNode
 * @typedef {import('../src/dashboard/mesh-view.js').GraphEdge} GraphEdge
 * @typedef {{ namespace: string, text: string, showIdle: boolean }} Filters
 * @typedef {{ node: GraphNode, layer: number, x: number, y: number }} Placed
 * @typedef {{ x: number, y: number }} Pt
 * @typedef {{ in: Map<string, number>, out: Map<string, number> }} Fan  edges into and out of each node
 * @typedef {Map<string, { sig: string, row: HTMLElement }>} RowCache
 */

const BASE = new URL('./', import.meta.url);
const EVENTS_URL = new URL('events', BASE);
const STATE_URL = new URL('state', BASE);
const POLL_MS = 2000;
/** How long to wait before opening a new EventSource once the browser gave up on the old one. */
const RECONNECT_MS = 5000;
/** The graph shrinks to fit the page's width, but not below this scale: then it scrolls. */
const MIN_GRAPH_SCALE = 0.75;
/** More nodes than this make an unreadable graph and a slow page: the busiest ones are drawn. */
const MAX_NODES = 200;
/** Edge labels beyond this many edges are clutter; each edge keeps its tooltip. */
const MAX_LABELLED_EDGES = 80;
const MAX_ROWS = 300;
/** NACK texts shown per config; the rest are counted. */
const MAX_NACKS = 5;

const SVG_NS = 'http://www.w3.org/2000/svg';
const NODE_W = 136;
const NODE_H = 36;
const GAP_X = 112;
const ROW_H = 58;
const MARGIN = 24;

// ---------------------------------------------------------------------------------------------
// State and wiring
// ---------------------------------------------------------------------------------------------

/** @type {MeshView | null} */
let view = null;
/** Local time the current view arrived: the header says how old the data on screen is. */
let receivedAt = 0;
/** @type {Filters} */
const filters = { namespace: '', text: '', showIdle: false };
let renderQueued = false;
/** What is drawn now (see renderGraph), and the table rows by key (see keyedRows). */
let graphSig = '';
/** @type {RowCache} */
const configRows = new Map();
/** @type {RowCache} */
const proxyRows = new Map();

/** @param {string} id */
function byId(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`mesh.html has no #${id}`);
  return e;
}

function start() {
  const ns = /** @type {HTMLSelectElement} */ (byId('filter-namespace'));
  const text = /** @type {HTMLInputElement} */ (byId('filter-text'));
  const idle = /** @type {HTMLInputElement} */ (byId('show-idle'));
  ns.addEventListener('change', () => { filters.namespace = ns.value; scheduleRender(); });
  text.addEventListener('input', () => { filters.text = text.value.trim().toLowerCase(); scheduleRender(); });
  idle.addEventListener('change', () => { filters.showIdle = idle.checked; scheduleRender(); });
  setInterval(renderAge, 1000);
  connect();
}

/** Typing re-renders at most once a frame, however fast the keys come. */
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

/** @param {unknown} v */
function accept(v) {
  if (!isMeshView(v)) return;
  // A poll answered after the stream came back may carry an older view than the one shown.
  if (view && Date.parse(v.generatedAt) < Date.parse(view.generatedAt)) return;
  view = v;
  receivedAt = Date.now();
  scheduleRender();
}

/**
 * Only the shape's skeleton is checked: enough that a half-written server cannot break the page.
 * @param {unknown} v @returns {v is MeshView}
 */
function isMeshView(v) {
  const m = /** @type {Partial<MeshView> | null} */ (v);
  return !!m && typeof m === 'object' && Array.isArray(m.proxies) && Array.isArray(m.configs) &&
    !!m.graph && Array.isArray(m.graph.nodes) && Array.isArray(m.graph.edges);
}

// ---------------------------------------------------------------------------------------------
// Connection: Server-Sent Events, polling while they are down
// ---------------------------------------------------------------------------------------------

/** @type {number | undefined} */
let pollTimer;

function connect() {
  const es = new EventSource(EVENTS_URL);
  es.addEventListener('open', () => { setStatus('live'); stopPolling(); });
  es.addEventListener('state', (e) => {
    setStatus('live');
    stopPolling();
    try {
      accept(JSON.parse(/** @type {MessageEvent<string>} */ (e).data));
    } catch {
      // A malformed frame is skipped; the next one replaces it.
    }
  });
  es.addEventListener('error', () => {
    setStatus('disconnected');
    startPolling();
    // The browser retries by itself unless the answer was not an event stream (a 404 from an
    // older control plane, a proxy's error page): then it closes for good and we start over.
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_MS);
  });
}

function startPolling() {
  if (pollTimer !== undefined) return;
  pollTimer = window.setInterval(poll, POLL_MS);
  void poll();
}

function stopPolling() {
  if (pollTimer === undefined) return;
  clearInterval(pollTimer);
  pollTimer = undefined;
}

async function poll() {
  const status = byId('status');
  try {
    const res = await fetch(STATE_URL, { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    accept(await res.json());
    status.title = `live updates down; polling ${STATE_URL.pathname} every ${POLL_MS / 1000} s`;
  } catch (err) {
    status.title = `live updates down; polling ${STATE_URL.pathname} failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** @param {'live' | 'disconnected'} state */
function setStatus(state) {
  const status = byId('status');
  if (status.dataset.state === state) return;
  status.dataset.state = state;
  status.textContent = state === 'live' ? 'live' : 'disconnected, retrying';
  status.title = state === 'live' ? `streaming ${EVENTS_URL.pathname}` : '';
}

// ---------------------------------------------------------------------------------------------
// DOM helpers: text goes in as text, never as markup
// ---------------------------------------------------------------------------------------------

/**
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [attrs] class, title, data-*, …
 * @param {Array<Node | string | null | undefined>} children strings become text nodes
 */
function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/**
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [attrs]
 * @param {Array<Node | string | null | undefined>} children
 */
function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/**
 * @template {Element} E
 * @param {E} e
 * @param {Record<string, string | number | boolean | undefined>} attrs
 * @param {Array<Node | string | null | undefined>} children
 * @returns {E}
 */
function fill(e, attrs, children) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/**
 * Table rows by key, reused while what they show (their signature) is unchanged: an update every
 * second then rebuilds only the rows that changed, and the browser lays out nothing when none did.
 * @template T
 * @param {RowCache} cache replaced by the rows of `items`
 * @param {T[]} items @param {(t: T) => string} key @param {(t: T) => string} sig
 * @param {(t: T) => HTMLElement} build
 */
function keyedRows(cache, items, key, sig, build) {
  /** @type {RowCache} */
  const next = new Map();
  for (const item of items) {
    let k = key(item);
    while (next.has(k)) k += '\u0000'; // a duplicate from the server still gets its own row
    const sg = sig(item);
    const had = cache.get(k);
    next.set(k, { sig: sg, row: had && had.sig === sg ? had.row : build(item) });
  }
  cache.clear();
  for (const [k, v] of next) cache.set(k, v);
  return [...next.values()].map((v) => v.row);
}

/** @param {HTMLElement} parent @param {Element[]} children */
function setChildren(parent, children) {
  const now = parent.children;
  if (now.length === children.length && children.every((c, i) => now[i] === c)) return;
  parent.replaceChildren(...children);
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/** @param {number} rps */
function fmtRps(rps) {
  if (rps >= 100) return rps.toFixed(0);
  if (rps >= 10) return rps.toFixed(1);
  return rps.toFixed(2);
}

/** @param {number} rate 0..1 */
function fmtPct(rate) {
  if (rate === 0) return '0%';
  const pct = rate * 100;
  return pct < 0.1 ? '<0.1%' : `${pct.toFixed(1)}%`;
}

/** @param {number | null} ms */
function fmtMs(ms) {
  if (ms === null) return '–';
  return ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

/** @param {number} ms */
function fmtAge(ms) {
  const sec = Math.max(0, Math.round(ms / 1000));
  if (sec < 60) return `${sec}s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min}m`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours}h ${min % 60}m`;
  return `${Math.floor(hours / 24)}d`;
}

/**
 * A moment as the time of day, with the date too when it is not the day of `now`.
 * @param {number} when @param {number} now
 */
function fmtWhen(when, now) {
  const d = new Date(when);
  return d.toDateString() === new Date(now).toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

/**
 * A node's name as drawn: a cluster service by its short name (`reviews.bookinfo.svc.cluster.local`
 * → `reviews`, its namespace goes under it), any other host and a workload as they are.
 * @param {GraphNode} n
 */
function nodeLabel(n) {
  const m = n.kind === 'service' ? /^([^.]+)\.[^.]+\.svc(\.|$)/.exec(n.name) : null;
  return m ? m[1] : n.name;
}

/** @type {CanvasRenderingContext2D | null | undefined} */
let measurer;
/** The body's font family, read once: reading it per node would force a style pass each time. */
let fontFamily = '';

/**
 * `text`, cut with an ellipsis to fit `px` pixels in the page's font: names are as long as their
 * owners made them, and a node has a fixed width.
 * @param {string} text @param {number} px @param {string} weightAndSize e.g. "600 12px"
 */
function fitText(text, px, weightAndSize) {
  if (measurer === undefined) {
    measurer = document.createElement('canvas').getContext('2d');
    fontFamily = getComputedStyle(document.body).fontFamily;
  }
  if (!measurer) return text.length <= 18 ? text : `${text.slice(0, 17)}…`;
  measurer.font = `${weightAndSize} ${fontFamily}`;
  if (measurer.measureText(text).width <= px) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) { // the longest prefix that fits with its ellipsis
    const mid = Math.ceil((lo + hi) / 2);
    if (measurer.measureText(`${text.slice(0, mid)}…`).width <= px) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/** @param {string} namespace @param {Array<string | undefined>} fields */
function matches(namespace, fields) {
  if (filters.namespace && namespace !== filters.namespace) return false;
  if (!filters.text) return true;
  return fields.some((f) => f !== undefined && f.toLowerCase().includes(filters.text));
}

/** @param {MeshView} v */
function namespacesOf(v) {
  const all = new Set();
  for (const p of v.proxies) all.add(p.namespace);
  for (const c of v.configs) all.add(c.namespace);
  for (const n of v.graph.nodes) all.add(n.namespace);
  all.delete('');
  return [...all].sort();
}

/**
 * The select keeps the chosen namespace even when it has just emptied, so the filter never jumps.
 * @param {MeshView} v
 */
function renderNamespaces(v) {
  const select = /** @type {HTMLSelectElement} */ (byId('filter-namespace'));
  const wanted = namespacesOf(v);
  if (filters.namespace && !wanted.includes(filters.namespace)) wanted.push(filters.namespace);
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join('\n') === wanted.join('\n')) return;
  select.replaceChildren(h('option', { value: '' }, 'all namespaces'), ...wanted.map((ns) => h('option', { value: ns }, ns)));
  select.value = filters.namespace;
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

function render() {
  if (!view) return;
  renderNamespaces(view);
  renderCounts(view);
  renderAge();
  renderGraph(view.graph, view.proxies);
  renderConfigs(view.configs);
  renderProxies(view.proxies, view.generatedAt);
}

/**
 * Counts are of the whole mesh, not of the filtered view: the header is the mesh's health.
 * @param {MeshView} v
 */
function renderCounts(v) {
  const sync = { SYNCED: 0, STALE: 0, NACK: 0 };
  for (const p of v.proxies) sync[p.sync] = (sync[p.sync] ?? 0) + 1;
  const rolling = v.configs.filter((c) => c.upToDate < c.reached).length;
  const rejected = v.configs.filter((c) => !c.accepted).length;
  /** @type {Array<[string, number, string, string]>} key, value, label, tone when non-zero */
  const counts = [
    ['proxies', v.proxies.length, 'proxies', ''],
    ['synced', sync.SYNCED, 'SYNCED', 'ok'],
    ['stale', sync.STALE, 'STALE', 'warn'],
    ['nack', sync.NACK, 'NACK', 'bad'],
    ['configs', v.configs.length, 'configs', ''],
    ['rolling', rolling, 'not rolled out', 'warn'],
    ['rejected', rejected, 'not accepted', 'bad'],
  ];
  byId('counts').replaceChildren(...counts.map(([key, value, label, tone]) =>
    h('span', { class: `count ${value > 0 ? tone : 'zero'}`, 'data-count': key, 'data-value': value },
      h('b', {}, String(value)), ` ${label}`)));
}

function renderAge() {
  if (!view) return;
  const updated = byId('updated');
  updated.dataset.generatedAt = view.generatedAt;
  updated.textContent = `updated ${new Date(view.generatedAt).toLocaleTimeString()} · ${fmtAge(Date.now() - receivedAt)} ago`;
}

/**
 * "N more …" notes under a capped list.
 * @param {string} id @param {number} hidden @param {string} what
 */
function renderMore(id, hidden, what) {
  const p = byId(id);
  p.hidden = hidden === 0;
  p.dataset.hidden = String(hidden);
  p.textContent = hidden === 0 ? '' : `${hidden} more ${what}, filter to see them`;
}

// ---------------------------------------------------------------------------------------------
// Service graph
// ---------------------------------------------------------------------------------------------

/**
 * What to draw: edges touching a node the filters match (both ends drawn, so a match is shown in
 * context), idle edges and nodes only when asked, and at most MAX_NODES nodes. The budget goes to
 * the busiest edges first, both ends at once, so what is drawn stays connected.
 * @param {GraphView} g
 */
function selectGraph(g) {
  /** @type {Map<string, GraphNode>} */
  const byNode = new Map(g.nodes.map((n) => [n.id, n]));
  /** @param {GraphNode} n */
  const match = (n) => matches(n.namespace, [n.id, n.name, n.namespace, n.kind]);
  const edges = g.edges.filter((e) => {
    const a = byNode.get(e.source);
    const b = byNode.get(e.target);
    return a && b && (filters.showIdle || e.rps > 0) && (match(a) || match(b));
  }).sort((a, b) => b.rps - a.rps);
  /** @type {Set<string>} every node that could be drawn */
  const wanted = new Set();
  for (const e of edges) wanted.add(e.source).add(e.target);
  if (filters.showIdle) for (const n of g.nodes) if (match(n)) wanted.add(n.id);

  /** @type {Set<string>} */
  const kept = new Set();
  for (const e of edges) {
    const extra = (kept.has(e.source) ? 0 : 1) + (kept.has(e.target) || e.target === e.source ? 0 : 1);
    if (kept.size + extra > MAX_NODES) continue;
    kept.add(e.source).add(e.target);
  }
  for (const id of wanted) if (kept.size < MAX_NODES) kept.add(id);
  return {
    nodes: [...kept].map((id) => /** @type {GraphNode} */ (byNode.get(id))),
    edges: edges.filter((e) => kept.has(e.source) && kept.has(e.target)),
    hidden: wanted.size - kept.size,
  };
}

/**
 * Layers left to right: callers before what they call. Where calls go round in a cycle, the
 * lightest edge of it is the one drawn backwards: edges are taken busiest first, each kept unless
 * it closes a cycle with those kept before. Each node's layer is then its longest path from a
 * caller, and a pure caller moves right, next to the first thing it calls, so a client of a deep
 * service does not sit far away at the left.
 * @param {GraphNode[]} nodes @param {GraphEdge[]} edges
 * @returns {Map<string, number>}
 */
function assignLayers(nodes, edges) {
  /** @type {Map<string, string[]>} the kept (acyclic) edges */
  const out = new Map(nodes.map((n) => [n.id, []]));
  const indegree = new Map(nodes.map((n) => [n.id, 0]));
  for (const e of [...edges].sort((x, y) => y.rps - x.rps)) {
    if (e.source === e.target || reaches(out, e.target, e.source)) continue;
    out.get(e.source)?.push(e.target);
    indegree.set(e.target, (indegree.get(e.target) ?? 0) + 1);
  }
  /** @type {Map<string, number>} */
  const layer = new Map(nodes.map((n) => [n.id, 0]));
  // Kahn's order: a node's layer is final once all its callers have been placed.
  const pending = new Map(indegree);
  const ready = nodes.filter((n) => pending.get(n.id) === 0).map((n) => n.id);
  while (ready.length > 0) {
    const id = /** @type {string} */ (ready.pop());
    for (const t of out.get(id) ?? []) {
      layer.set(t, Math.max(layer.get(t) ?? 0, (layer.get(id) ?? 0) + 1));
      pending.set(t, (pending.get(t) ?? 1) - 1);
      if (pending.get(t) === 0) ready.push(t);
    }
  }
  for (const n of nodes) {
    const targets = out.get(n.id) ?? [];
    if ((indegree.get(n.id) ?? 0) > 0) continue;
    // A node with no edge (shown because "show idle" is ticked): services beside the callers.
    if (targets.length === 0) layer.set(n.id, n.kind === 'service' ? 1 : 0);
    else layer.set(n.id, Math.min(...targets.map((t) => layer.get(t) ?? 1)) - 1);
  }
  return layer;
}

/**
 * Whether `to` can be reached from `from` along `out`.
 * @param {Map<string, string[]>} out @param {string} from @param {string} to
 */
function reaches(out, from, to) {
  const seen = new Set([from]);
  const stack = [from];
  while (stack.length > 0) {
    const id = /** @type {string} */ (stack.pop());
    if (id === to) return true;
    for (const t of out.get(id) ?? []) if (!seen.has(t)) { seen.add(t); stack.push(t); }
  }
  return false;
}

/**
 * Order within each layer by the mean position of each node's neighbours (the barycenter
 * heuristic, a few sweeps each way): few crossings without the cost of an exact method.
 * @param {GraphNode[]} nodes @param {GraphEdge[]} edges @param {Map<string, number>} layer
 * @returns {GraphNode[][]}
 */
function orderLayers(nodes, edges, layer) {
  const depth = Math.max(0, ...layer.values()) + 1;
  /** @type {GraphNode[][]} */
  const layers = Array.from({ length: depth }, () => []);
  const byName = [...nodes].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  for (const n of byName) layers[layer.get(n.id) ?? 0].push(n);
  const neighbours = neighboursOf(nodes, edges);
  /** @type {Map<string, number>} vertical position, centred per layer as drawn */
  const pos = new Map();
  const place = (/** @type {GraphNode[]} */ l) => l.forEach((n, i) => pos.set(n.id, i - (l.length - 1) / 2));
  layers.forEach(place);

  /** @param {GraphNode[]} l @param {(other: string) => boolean} side */
  const sweep = (l, side) => {
    /** @type {Map<string, number>} */
    const key = new Map();
    for (const n of l) {
      const ps = (neighbours.get(n.id) ?? []).filter(side).map((o) => pos.get(o) ?? 0);
      key.set(n.id, ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : pos.get(n.id) ?? 0);
    }
    l.sort((a, b) => (key.get(a.id) ?? 0) - (key.get(b.id) ?? 0));
    place(l);
  };
  for (let round = 0; round < 4; round++) {
    for (let i = 1; i < depth; i++) sweep(layers[i], (o) => (layer.get(o) ?? 0) < i);
    for (let i = depth - 2; i >= 0; i--) sweep(layers[i], (o) => (layer.get(o) ?? 0) > i);
  }
  return layers;
}

/**
 * @param {GraphNode[]} nodes @param {GraphEdge[]} edges
 * @returns {Map<string, string[]>} each node's callers and callees
 */
function neighboursOf(nodes, edges) {
  /** @type {Map<string, string[]>} */
  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    neighbours.get(e.source)?.push(e.target);
    neighbours.get(e.target)?.push(e.source);
  }
  return neighbours;
}

/**
 * Heights: the tallest layer is stacked from the top; every other layer, working outwards from
 * it, puts each node level with the mean of its neighbours already placed, then pushes nodes
 * apart just enough not to overlap. Edges come out nearly straight, and a small group of services
 * sits beside what it talks to rather than at the middle of a tall graph.
 * @param {GraphNode[][]} layers @param {Map<string, string[]>} neighbours @param {number} top the first row's y
 * @returns {Map<string, Placed>}
 */
function placeNodes(layers, neighbours, top) {
  /** @type {Map<string, number>} */
  const y = new Map();
  let anchor = 0;
  layers.forEach((l, i) => { if (l.length > layers[anchor].length) anchor = i; });
  layers[anchor].forEach((n, j) => y.set(n.id, j * ROW_H));
  const order = [...layers.keys()].filter((i) => i !== anchor).sort((a, b) => Math.abs(a - anchor) - Math.abs(b - anchor));
  for (const i of order) {
    const wanted = layers[i].map((n) => {
      const ys = (neighbours.get(n.id) ?? []).map((o) => y.get(o)).filter((v) => v !== undefined);
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : undefined;
    });
    for (const [j, v] of separate(wanted).entries()) y.set(layers[i][j].id, v);
  }
  const highest = Math.min(...y.values());
  /** @type {Map<string, Placed>} */
  const placed = new Map();
  layers.forEach((l, i) => l.forEach((node) => placed.set(node.id, {
    node, layer: i, x: MARGIN + i * (NODE_W + GAP_X), y: top + (y.get(node.id) ?? 0) - highest,
  })));
  return placed;
}

/**
 * Positions in the layer's order, at least ROW_H apart, as close to the wanted ones as that allows
 * (least squares: with z = y - j·ROW_H the constraint is "z never decreases", which the
 * pool-adjacent-violators pass solves exactly). A node with no wish sits just below the one before.
 * @param {Array<number | undefined>} wanted
 * @returns {number[]}
 */
function separate(wanted) {
  const first = wanted.findIndex((w) => w !== undefined);
  /** @type {number[]} */
  const wish = [];
  wanted.forEach((w, j) => {
    if (w !== undefined) wish.push(w);
    else if (j > 0) wish.push(wish[j - 1] + ROW_H);
    else wish.push(first < 0 ? 0 : /** @type {number} */ (wanted[first]) - first * ROW_H);
  });
  /** @type {Array<{ sum: number, count: number }>} runs of nodes that end up touching */
  const blocks = [];
  wish.forEach((w, j) => {
    blocks.push({ sum: w - j * ROW_H, count: 1 });
    while (blocks.length > 1) {
      const [a, b] = blocks.slice(-2);
      if (a.sum / a.count <= b.sum / b.count) break;
      blocks.splice(-2, 2, { sum: a.sum + b.sum, count: a.count + b.count });
    }
  });
  /** @type {number[]} */
  const out = [];
  for (const b of blocks) for (let k = 0; k < b.count; k++) out.push(b.sum / b.count + out.length * ROW_H);
  return out;
}

/**
 * @param {GraphView} g
 * @param {ProxyView[]} proxies their sync colours the workload nodes
 */
function renderGraph(g, proxies) {
  const { nodes, edges, hidden } = selectGraph(g);
  const labelled = edges.length <= MAX_LABELLED_EDGES;
  const health = workloadHealth(proxies);
  // Redrawn only when what it shows changed: most updates are of other parts of the view.
  const sig = JSON.stringify([nodes, edges, nodes.map((n) => health.get(`${n.namespace}/${n.name}`))]);
  if (sig !== graphSig || g.nodes.length === 0) {
    graphSig = sig;
    byId('graph').replaceChildren(nodes.length > 0 ? drawGraph(nodes, edges, labelled, health) : emptyGraph(g));
  }
  renderMore('graph-hidden', hidden, 'nodes hidden');
  renderGraphCaption(g, labelled);
}

/**
 * @param {GraphNode[]} nodes @param {GraphEdge[]} edges @param {boolean} labelled
 * @param {Map<string, ProxyView['sync']>} health
 */
function drawGraph(nodes, edges, labelled, health) {
  const fan = labelled ? fanOf(edges) : null;
  const layers = orderLayers(nodes, edges, assignLayers(nodes, edges));
  // Room over the first row for the loops of nodes that call themselves (see edgeCurve).
  const top = MARGIN + (edges.some((e) => e.source === e.target) ? 36 : 0);
  const placed = placeNodes(layers, neighboursOf(nodes, edges), top);
  const width = MARGIN * 2 + layers.length * (NODE_W + GAP_X) - GAP_X;
  const bottom = Math.max(...[...placed.values()].map((p) => p.y)) + NODE_H;
  // Room under the last row for the edges that dip beneath it (see edgeCurve).
  const backwards = edges.some((e) => e.source !== e.target && (placed.get(e.target)?.x ?? 0) <= (placed.get(e.source)?.x ?? 0));
  const height = bottom + MARGIN + (backwards ? ROW_H : 0);
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'service graph' },
    s('defs', {}, arrowMarker('arrow'), arrowMarker('arrow-error')),
    s('g', { class: 'edges' }, ...edges.map((e) => drawEdge(e, placed, fan))),
    s('g', { class: 'nodes' }, ...[...placed.values()].map((p) => drawNode(p, health))));
  // CSSOM sizes, not style attributes: allowed under the page's Content-Security-Policy.
  svg.style.maxWidth = `${width}px`;
  svg.style.minWidth = `${Math.round(width * MIN_GRAPH_SCALE)}px`;
  return svg;
}

/**
 * An svg still (the tests look for `#graph svg`), saying why it is empty.
 * @param {GraphView} g
 */
function emptyGraph(g) {
  const why = g.nodes.length === 0 ? 'No services or workloads known yet.' : 'No traffic matches the filters (tick "show idle" to see idle nodes).';
  const svg = s('svg', { width: 640, height: 40, viewBox: '0 0 640 40', class: 'empty' }, s('text', { x: 0, y: 24, class: 'empty' }, why));
  svg.style.maxWidth = '640px';
  return svg;
}

/** @param {string} id */
function arrowMarker(id) {
  return s('marker', { id, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: 'userSpaceOnUse', orient: 'auto' },
    s('path', { d: 'M0,0 L10,5 L0,10 z' }));
}

/**
 * The worst sync state of each workload's proxies, by "namespace/workload".
 * @param {ProxyView[]} proxies
 */
function workloadHealth(proxies) {
  const rank = { SYNCED: 0, STALE: 1, NACK: 2 };
  /** @type {Map<string, ProxyView['sync']>} */
  const worst = new Map();
  for (const p of proxies) {
    const key = `${p.namespace}/${p.workload}`;
    const had = worst.get(key);
    if (!had || rank[p.sync] > rank[had]) worst.set(key, p.sync);
  }
  return worst;
}

/** @param {Placed} p @param {Map<string, ProxyView['sync']>} health */
function drawNode(p, health) {
  const n = p.node;
  const sync = n.kind === 'workload' ? health.get(`${n.namespace}/${n.name}`) : undefined;
  const cls = ['node', n.kind, sync === 'NACK' ? 'health-nack' : sync === 'STALE' ? 'health-stale' : ''].filter(Boolean).join(' ');
  const tip = `${n.kind} ${n.kind === 'service' ? n.name : `${n.namespace}/${n.name}`}${sync ? `\nproxies: ${sync}` : ''}`;
  return s('g', { class: cls, 'data-id': n.id, 'data-kind': n.kind, transform: `translate(${p.x},${p.y})` },
    s('title', {}, tip),
    s('rect', { width: NODE_W, height: NODE_H, rx: n.kind === 'service' ? NODE_H / 2 : 4 }),
    s('text', { x: NODE_W / 2, y: 16.5, class: 'name' }, fitText(nodeLabel(n), NODE_W - 12, '600 13px')),
    s('text', { x: NODE_W / 2, y: 30, class: 'ns' }, fitText(n.namespace, NODE_W - 12, '400 11px')));
}

/**
 * A cubic curve from the caller's right side to the callee's left side. Its control points sit at
 * a third and two thirds of the horizontal distance, which makes x linear in t: the label can be
 * put in a gap between layers, where it does not sit on a node.
 * @param {GraphEdge} e @param {Map<string, Placed>} placed @param {Fan | null} fan null: no label
 */
function drawEdge(e, placed, fan) {
  const a = /** @type {Placed} */ (placed.get(e.source));
  const b = /** @type {Placed} */ (placed.get(e.target));
  const { p0, p1, p2, p3, forward } = edgeCurve(a, b, e.source === e.target);
  const error = e.errorRate > 0;
  const g = s('g', {
    class: ['edge', error ? 'error' : '', forward ? '' : 'back'].filter(Boolean).join(' '),
    'data-source': e.source, 'data-target': e.target,
    'data-rps': e.rps, 'data-error-rate': e.errorRate, 'data-p99-ms': e.p99Ms === null ? '' : e.p99Ms,
  },
  s('title', {}, `${e.source} → ${e.target}\n${fmtRps(e.rps)} requests/s, ${fmtPct(e.errorRate)} 5xx, p99 ${fmtMs(e.p99Ms)}`),
  s('path', {
    d: `M${p0.x},${p0.y} C${p1.x},${p1.y} ${p2.x},${p2.y} ${p3.x},${p3.y}`,
    'stroke-width': (1.2 + 2 * Math.log10(1 + e.rps)).toFixed(1),
    'marker-end': `url(#${error ? 'arrow-error' : 'arrow'})`,
  }));
  if (fan) {
    const at = bezier(p0, p1, p2, p3, forward ? labelT(e, p3.x - p0.x, fan) : 0.5);
    const x = at.x.toFixed(1);
    // Two short lines, above and below the curve, fit the gap between two layers (a loop's both
    // go above it: below is its node).
    const [y1, y2] = e.source === e.target ? [at.y - 17, at.y - 5] : [at.y - 4, at.y + 11];
    g.append(s('text', { class: 'label' },
      s('tspan', { x, y: y1.toFixed(1) }, `${fmtRps(e.rps)} rps`),
      s('tspan', { x, y: y2.toFixed(1) }, `${fmtPct(e.errorRate)} · ${fmtMs(e.p99Ms)}`)));
  }
  return g;
}

/**
 * The curve's four points. A call to itself loops over the node's top; a call back to an earlier
 * layer (one edge of a cycle) dips under the nodes from bottom to bottom.
 * @param {Placed} a @param {Placed} b @param {boolean} self
 */
function edgeCurve(a, b, self) {
  if (self) {
    const p0 = { x: a.x + NODE_W * 0.65, y: a.y };
    const p3 = { x: a.x + NODE_W * 0.35, y: a.y };
    return { p0, p1: { x: p0.x, y: p0.y - 26 }, p2: { x: p3.x, y: p3.y - 26 }, p3, forward: false };
  }
  if (b.x <= a.x) {
    const p0 = { x: a.x + NODE_W / 2, y: a.y + NODE_H };
    const p3 = { x: b.x + NODE_W / 2, y: b.y + NODE_H };
    const dip = ROW_H * 0.6 + 0.15 * (p0.x - p3.x);
    return { p0, p1: { x: p0.x, y: p0.y + dip }, p2: { x: p3.x, y: p3.y + dip }, p3, forward: false };
  }
  const p0 = { x: a.x + NODE_W, y: a.y + NODE_H / 2 };
  const p3 = { x: b.x, y: b.y + NODE_H / 2 };
  const k = (p3.x - p0.x) / 3;
  return { p0, p1: { x: p0.x + k, y: p0.y }, p2: { x: p3.x - k, y: p3.y }, p3, forward: true };
}

/**
 * Where along a forward edge its label goes. Edges fanning out of one node are furthest apart
 * near their targets, edges fanning into one node near their sources: the label goes to that
 * side of the gap (the last gap before the target, or the first after the source).
 * @param {GraphEdge} e @param {number} dx horizontal length @param {Fan} fan
 */
function labelT(e, dx, fan) {
  const outs = fan.out.get(e.source) ?? 1;
  const ins = fan.in.get(e.target) ?? 1;
  if (ins > outs) return (0.35 * GAP_X) / dx;
  return 1 - ((outs > ins ? 0.35 : 0.5) * GAP_X) / dx;
}

/**
 * @param {GraphEdge[]} edges
 * @returns {Fan}
 */
function fanOf(edges) {
  /** @type {Fan} */
  const fan = { in: new Map(), out: new Map() };
  for (const e of edges) {
    fan.out.set(e.source, (fan.out.get(e.source) ?? 0) + 1);
    fan.in.set(e.target, (fan.in.get(e.target) ?? 0) + 1);
  }
  return fan;
}

/**
 * @param {Pt} p0 @param {Pt} p1 @param {Pt} p2 @param {Pt} p3 @param {number} t
 * @returns {Pt}
 */
function bezier(p0, p1, p2, p3, t) {
  const u = 1 - t;
  const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
  return { x: w[0] * p0.x + w[1] * p1.x + w[2] * p2.x + w[3] * p3.x, y: w[0] * p0.y + w[1] * p1.y + w[2] * p2.y + w[3] * p3.y };
}

/** @param {GraphView} g @param {boolean} labelled */
function renderGraphCaption(g, labelled) {
  const span = g.windowSeconds > 0 ? `rates over ${g.windowSeconds} s` : 'rates after the second scrape';
  const labels = labelled ? 'labels: requests/s · 5xx · p99' : 'too many edges to label: hover one';
  byId('graph-caption').textContent = `${span} from ${g.scraped} proxies' statistics · ${labels}`;
  const failed = /** @type {HTMLDetailsElement} */ (byId('graph-failed'));
  failed.hidden = g.failed.length === 0;
  const summary = failed.querySelector('summary');
  const list = failed.querySelector('ul');
  if (!summary || !list) return;
  summary.textContent = `${g.failed.length} ${g.failed.length === 1 ? 'proxy' : 'proxies'} could not be read`;
  list.replaceChildren(...g.failed.map((f) => h('li', {}, h('code', {}, f.proxy), `: ${f.error}`)));
}

// ---------------------------------------------------------------------------------------------
// Config table
// ---------------------------------------------------------------------------------------------

/**
 * What needs an operator's eye first: NACKed, then rolling out, then rejected by the controller.
 * @param {ConfigView} c
 */
function configRank(c) {
  if (c.rejected.length > 0) return 0;
  if (c.upToDate < c.reached) return 1;
  if (!c.accepted) return 2;
  return 3;
}

/** @param {ConfigView[]} configs */
function renderConfigs(configs) {
  const shown = configs
    .filter((c) => matches(c.namespace, [c.kind, c.namespace, c.name, `${c.namespace}/${c.name}`, c.message, ...c.rejected.map((r) => r.proxy)]))
    .sort((a, b) => configRank(a) - configRank(b) || a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const rows = keyedRows(configRows, shown.slice(0, MAX_ROWS), (c) => `${c.kind}/${c.namespace}/${c.name}`, (c) => JSON.stringify(c), configRow);
  setChildren(/** @type {HTMLElement} */ (byId('configs').querySelector('tbody')), rows);
  renderMore('configs-more', Math.max(0, shown.length - MAX_ROWS), 'configs');
}

/** @param {ConfigView} c */
function configRow(c) {
  const done = c.upToDate >= c.reached;
  const bar = h('span', { class: 'bar' }, h('span', { class: 'bar-fill' }));
  // A CSSOM width, not a style attribute: allowed under the page's Content-Security-Policy.
  /** @type {HTMLElement} */ (bar.firstChild).style.width = `${c.reached > 0 ? (100 * c.upToDate) / c.reached : 100}%`;
  const messages = h('td', { class: 'messages' });
  if (c.message) messages.append(h('div', { class: `message ${c.accepted ? 'warning' : 'error'}` }, c.message));
  for (const r of c.rejected.slice(0, MAX_NACKS)) {
    messages.append(h('div', { class: 'nack' }, h('span', { class: 'nack-proxy' }, r.proxy), ': ', h('span', { class: 'nack-text' }, r.message)));
  }
  if (c.rejected.length > MAX_NACKS) messages.append(h('div', { class: 'nack more-nacks' }, `and ${c.rejected.length - MAX_NACKS} more proxies`));
  return h('tr', {
    'data-config': `${c.kind}/${c.namespace}/${c.name}`,
    'data-up-to-date': c.upToDate, 'data-reached': c.reached, 'data-accepted': String(c.accepted),
    class: c.rejected.length > 0 ? 'has-nack' : undefined,
  },
  h('td', { class: 'kind' }, c.kind),
  h('td', { class: 'name' }, h('span', { class: 'ns' }, `${c.namespace}/`), c.name),
  h('td', { class: 'num' }, String(c.generation)),
  h('td', {}, h('span', { class: `accepted ${c.accepted ? 'yes' : 'no'}` }, c.accepted ? 'yes' : 'no')),
  h('td', { class: `rollout ${done ? 'done' : 'rolling'}` }, bar, h('span', { class: 'ratio' }, `${c.upToDate}/${c.reached}`)),
  messages);
}

// ---------------------------------------------------------------------------------------------
// Proxies table
// ---------------------------------------------------------------------------------------------

/** @param {ProxyView[]} proxies @param {string} generatedAt ages are relative to the server's clock */
function renderProxies(proxies, generatedAt) {
  const rank = { NACK: 0, STALE: 1, SYNCED: 2 };
  const shown = proxies
    .filter((p) => matches(p.namespace, [p.id, p.kind, p.namespace, p.pod, p.workload, p.sync, p.nack]))
    .sort((a, b) => rank[a.sync] - rank[b.sync] || a.namespace.localeCompare(b.namespace) || a.workload.localeCompare(b.workload) || a.id.localeCompare(b.id));
  const now = Date.parse(generatedAt);
  // The row shows the connection's age: a row is rebuilt when that text changes too.
  const rows = keyedRows(proxyRows, shown.slice(0, MAX_ROWS), (p) => p.id, (p) => `${JSON.stringify(p)}${since(p, now)}`, (p) => proxyRow(p, now));
  setChildren(/** @type {HTMLElement} */ (byId('proxies').querySelector('tbody')), rows);
  renderMore('proxies-more', Math.max(0, shown.length - MAX_ROWS), 'proxies');
}

/** @param {ProxyView} p @param {number} now */
function since(p, now) {
  const t = Date.parse(p.connectedAt);
  return Number.isNaN(t) ? p.connectedAt : `${fmtWhen(t, now)} · ${fmtAge(now - t)} ago`;
}

/** @param {ProxyView} p @param {number} now */
function proxyRow(p, now) {
  return h('tr', { 'data-proxy': p.id, 'data-sync': p.sync },
    h('td', { class: 'id', title: `pod ${p.namespace}/${p.pod}` }, p.id),
    h('td', {}, p.kind),
    h('td', {}, p.namespace),
    h('td', {}, p.workload),
    h('td', {}, h('span', { class: `sync sync-${p.sync.toLowerCase()}` }, p.sync)),
    h('td', { class: 'since', title: p.connectedAt }, since(p, now)),
    h('td', { class: 'messages' }, p.nack ? h('div', { class: 'nack' }, p.nack) : null));
}

start();

export {};
