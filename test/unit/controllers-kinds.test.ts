// The kinds the composition root starts a controller for, and where each one lives in the API.
import { CONFIG_KINDS, GROUP_OF, NETWORKING_KINDS, SECURITY_KINDS } from '../../src/api/common.js';
import { apiPath, PLURALS } from '../../src/controllers/networking.js';

test('every networking kind, the security kinds and Telemetry, each at its group\'s v1 path', () => {
  expect(SECURITY_KINDS).toEqual(['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication']);
  expect(CONFIG_KINDS).toEqual([...NETWORKING_KINDS, ...SECURITY_KINDS, 'Telemetry']);
  expect(CONFIG_KINDS.map((k) => `${apiPath(k)}/${PLURALS[k]}`)).toEqual([
    '/apis/networking.istio.io/v1/virtualservices',
    '/apis/networking.istio.io/v1/destinationrules',
    '/apis/networking.istio.io/v1/gateways',
    '/apis/networking.istio.io/v1/serviceentries',
    '/apis/networking.istio.io/v1/sidecars',
    '/apis/security.istio.io/v1/peerauthentications',
    '/apis/security.istio.io/v1/authorizationpolicies',
    '/apis/security.istio.io/v1/requestauthentications',
    '/apis/telemetry.istio.io/v1/telemetries',
  ]);
  for (const kind of SECURITY_KINDS) expect(GROUP_OF[kind]).toBe('security.istio.io');
  expect(GROUP_OF.Telemetry).toBe('telemetry.istio.io');
});
