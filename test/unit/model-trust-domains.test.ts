// Istio's trust domain bundle on AuthorizationPolicy principals (the builder golden cases in
// conformance-istio-authz-translation cover the filters; these cover the rule's edges) and the
// mesh configuration that sets it.
import { parseMeshConfig } from '../../src/api/validate-mesh-config.js';
import { expandPrincipal } from '../../src/model/trust-domains.js';

test.each([
  ['cluster.local/ns/a/sa/b', ['td1', 'old'], ['td1/ns/a/sa/b', 'old/ns/a/sa/b']], // cluster.local always means the local trust domain
  ['old/ns/a/sa/b', ['td1', 'old'], ['td1/ns/a/sa/b', 'old/ns/a/sa/b']],
  ['other/ns/a/sa/b', ['td1', 'old'], ['other/ns/a/sa/b']], // not in the bundle: as written
  ['*/ns/a/sa/b', ['td1', 'old'], ['*/ns/a/sa/b']], // any trust domain: nothing to expand
  ['*', ['td1', 'old'], ['*']],
  ['ns/a/sa/b', ['td1', 'old'], ['ns/a/sa/b']], // not SPIFFE-shaped
  ['*-td/ns/a/sa/b', ['new-td', 'old-td', 'x'], ['*-td/ns/a/sa/b', 'x/ns/a/sa/b']], // a pattern stays for what it matches
  ['cluster.local/ns/a/sa/b', ['cluster.local'], ['cluster.local/ns/a/sa/b']], // the default: unchanged
])('%s over %j', (principal, bundle, want) => expect(expandPrincipal(principal, bundle)).toEqual(want));

test('meshConfig.trustDomainAliases is read and checked', () => {
  expect(parseMeshConfig('trustDomainAliases: [old-td, legacy.example]', 'mesh.yaml').trustDomainAliases).toEqual(['old-td', 'legacy.example']);
  expect(() => parseMeshConfig('trustDomainAliases: old-td', 'mesh.yaml')).toThrow('mesh.yaml: trustDomainAliases: must be a list');
  expect(() => parseMeshConfig('trustDomainAliases: ["a/b"]', 'mesh.yaml')).toThrow('trustDomainAliases[0]: must be a trust domain');
});
