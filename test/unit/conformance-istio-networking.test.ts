// Istio's own validation cases for the networking kinds (../shared/conformance/istio-validation,
// beside the repo, read at test time): Trellis gives Istio's verdict on every one (but one whose
// manifest Istio's CRD itself refuses: it gets the API server's verdict, below), through the same
// validationErrors() the webhook and the controllers use, and a rejection names the object and the field.
// A failure names the file and both verdicts.
import { validateManifest } from '../../src/api/validate.js';
import { istioCases, type IstioCase } from '../support/istio-cases.js';

const KINDS = ['VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry'] as const;

/**
 * Cases whose manifest Istio's own CRD rejects at the API server, so an Istio user never gets
 * Istio's stated verdict for it, and Trellis (whose validationErrors() includes the CRD schemas) gives the
 * API server's. Each with the message Trellis gives.
 */
const API_SERVER_VERDICT: Record<string, string> = {
  // From Go's TestValidateServer ("bind unix path"), where a port number of 0 and none are the
  // same; the manifest leaves `number` out, which Istio's Gateway CRD requires
  // (manifests/charts/base/files/crd-all.gen.yaml). With `number: 0` it is valid to both.
  'gw-server-bind-unix-path.yaml': 'Gateway default/gw-server-bind-unix-path: spec.servers[0].port.number: required',
};
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test("every case is here: 552, 255 valid and 297 invalid (the README's count)", () => {
  const count = (folder: IstioCase['folder']) => KINDS.reduce((n, k) => n + istioCases('istio-validation', folder, k).length, 0);
  expect([count('valid'), count('invalid')]).toEqual([255, 297]);
});

describe.each(KINDS)('%s', (kind) => {
  const cases = [...istioCases('istio-validation', 'valid', kind), ...istioCases('istio-validation', 'invalid', kind)];

  test.each(cases.map((c) => [`${c.folder}/${c.file}`, c] as const))('%s', (_name, c) => {
    const result = validateManifest(c.object);
    expect(result).toBeDefined();
    const messages = result?.messages ?? [];
    const ours = messages.length > 0 ? 'invalid' : 'valid';
    if (API_SERVER_VERDICT[c.file]) {
      expect(messages).toEqual([API_SERVER_VERDICT[c.file]]);
      return;
    }
    expect({ file: c.file, istio: c.folder, trellis: ours, messages }).toEqual({ file: c.file, istio: c.folder, trellis: c.folder, messages: c.folder === 'valid' ? [] : expect.any(Array) });
    const object = `${kind} ${c.object.metadata?.namespace ?? 'default'}/${c.object.metadata?.name}: `;
    for (const message of messages) expect(message).toMatch(new RegExp(`^${escape(object)}(spec|metadata)\\.?\\S*: \\S`));
    // Where Istio's test expects a warning on a valid object, Trellis warns too, naming the field.
    if (c.warns && c.folder === 'valid') {
      expect({ file: c.file, warned: (result?.warnings.length ?? 0) > 0 }).toEqual({ file: c.file, warned: true });
      for (const warning of result?.warnings ?? []) expect(warning).toMatch(new RegExp(`^${escape(object)}spec\\.\\S*: \\S`));
    }
  });
});
