// The mesh page (web/) and the sample MeshView its previews use. The sample's shape is checked by
// tsc (it is typed as MeshView); here, that it is coherent as the control plane would send it. The
// page's files are read as text: served under `default-src 'self'`, the HTML may carry no inline
// script or style, and server-sent text must never reach the DOM as markup.
import fs from 'node:fs';
import path from 'node:path';
import { meshViewSample } from '../support/mesh-view-sample.js';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

describe('the sample MeshView', () => {
  const view = meshViewSample();

  test('every edge joins two known nodes, and node ids follow "workload:<ns>/<name>" or "service:<host>"', () => {
    const ids = new Set(view.graph.nodes.map((n) => n.id));
    expect(ids.size).toBe(view.graph.nodes.length);
    for (const e of view.graph.edges) expect([ids.has(e.source), ids.has(e.target)]).toEqual([true, true]);
    for (const n of view.graph.nodes) expect(n.id).toBe(n.kind === 'workload' ? `workload:${n.namespace}/${n.name}` : `service:${n.name}`);
  });

  test('one proxy NACKed, with its text, and the config it rejected names it', () => {
    const nacked = view.proxies.filter((p) => p.sync === 'NACK');
    expect(nacked).toHaveLength(1);
    expect(nacked[0].nack).toBeTruthy();
    const rejecting = view.configs.filter((c) => c.rejected.length > 0);
    expect(rejecting.map((c) => `${c.kind}/${c.namespace}/${c.name}`)).toEqual(['VirtualService/bookinfo/reviews']);
    expect(rejecting[0].rejected[0]).toEqual({ proxy: nacked[0].id, message: nacked[0].nack });
  });

  test('rollouts count no more up-to-date proxies than reached ones', () => {
    for (const c of view.configs) expect(c.upToDate).toBeLessThanOrEqual(c.reached);
  });
});

describe('web/mesh.html and web/mesh.js', () => {
  const html = read('web/mesh.html');
  const js = read('web/mesh.js');

  test('the HTML loads only its own two assets, relative to /debug/mesh, and has no inline script or style', () => {
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(['mesh/mesh.css', 'mesh/mesh.js']);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
  });

  test('the script never hands text to the HTML parser', () => {
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\.setAttribute\(\s*['"](?:style|on)/);
  });
});
