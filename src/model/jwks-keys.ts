// Whether Envoy can load a key set, judged as its JWT library (jwt_verify_lib, on BoringSSL)
// parses one: Envoy refuses a jwt_authn configuration whose inline keys it cannot parse, which
// would NACK the whole listener and stall every later update of the proxy. So keys fetched from
// a jwksUri are checked before they replace good ones, and a rule's own `jwks` before it is sent
// (src/translate/jwt-authn.ts). Istio's own check (the webhook's) is looser; this one is Envoy's.
// Pure (node:crypto only imports a key to see that it is one).
import crypto from 'node:crypto';

const X509_PREFIX = '-----BEGIN CERTIFICATE-----\n';
const X509_SUFFIX = '\n-----END CERTIFICATE-----\n';
/** The RSA moduli BoringSSL takes. */
const MIN_RSA_BITS = 512;
const MAX_RSA_BITS = 16 * 1024;
/** Bytes of a coordinate per EC curve jwt_verify_lib supports. */
const EC_CURVES: Readonly<Record<string, { alg: string; bytes: number }>> = { 'P-256': { alg: 'ES256', bytes: 32 }, 'P-384': { alg: 'ES384', bytes: 48 }, 'P-521': { alg: 'ES512', bytes: 66 } };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** absl's WebSafeBase64Unescape: the URL-safe alphabet, padding optional but right when present. */
function base64url(value: string): Buffer | undefined {
  const bare = value.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(bare) || bare.length % 4 === 1) return undefined;
  if (bare !== value && value.length % 4 !== 0) return undefined;
  return Buffer.from(bare, 'base64url');
}

/** A member that must be a string when present: its value, '' when absent, or a problem. */
function stringMember(key: Json, name: string): string | { problem: string } {
  const v = key[name];
  if (v === undefined) return '';
  return typeof v === 'string' ? v : { problem: `"${name}" must be a string` };
}

function withoutLeadingZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

function rsaProblem(key: Json, alg: string): string | undefined {
  if (alg !== '' && !alg.startsWith('RS') && !alg.startsWith('PS')) return `alg ${JSON.stringify(alg)} does not fit an RSA key`;
  const [n, e] = [key.n, key.e];
  if (n === undefined || e === undefined) return `an RSA key needs "n" and "e"`;
  if (typeof n !== 'string' || typeof e !== 'string') return `"n" and "e" must be strings`;
  const [nb, eb] = [base64url(n), base64url(e)];
  if (!nb || !eb) return `"n" or "e" is not base64url`;
  const exponent = withoutLeadingZeros(eb).toString('hex');
  if (exponent !== '03' && exponent !== '010001') return 'the exponent must be 3 or 65537';
  const modulus = withoutLeadingZeros(nb);
  if (modulus.length === 0 || (modulus[modulus.length - 1]! & 1) === 0) return 'the modulus must be odd';
  const bits = modulus.length * 8 - Math.clz32(modulus[0]!) + 24;
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) return `the modulus must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits, got ${bits}`;
  return undefined;
}

function ecProblem(key: Json, alg: string): string | undefined {
  if (alg !== '' && !alg.startsWith('ES')) return `alg ${JSON.stringify(alg)} does not fit an EC key`;
  const crvMember = stringMember(key, 'crv');
  if (typeof crvMember !== 'string') return crvMember.problem;
  if (alg !== '' && crvMember !== '' && EC_CURVES[crvMember]?.alg !== alg) return `alg ${alg} does not fit curve ${crvMember}`;
  const crv = Object.keys(EC_CURVES).find((c) => EC_CURVES[c]!.alg === alg) ?? (crvMember === '' && alg === '' ? 'P-256' : crvMember);
  const curve = EC_CURVES[crv];
  if (!curve) return `curve ${JSON.stringify(crv || alg)} is not supported (P-256, P-384, P-521)`;
  const [x, y] = [key.x, key.y];
  if (x === undefined || y === undefined) return 'an EC key needs "x" and "y"';
  if (typeof x !== 'string' || typeof y !== 'string') return '"x" and "y" must be strings';
  const [xb, yb] = [base64url(x), base64url(y)].map((b) => b && withoutLeadingZeros(b));
  if (!xb || !yb) return '"x" or "y" is not base64url';
  if (xb.length > curve.bytes || yb.length > curve.bytes) return `the point is not on curve ${crv}`;
  const pad = (b: Buffer): string => Buffer.concat([Buffer.alloc(curve.bytes - b.length), b]).toString('base64url');
  try {
    crypto.createPublicKey({ key: { kty: 'EC', crv, x: pad(xb), y: pad(yb) }, format: 'jwk' });
  } catch {
    return `the point is not on curve ${crv}`;
  }
  return undefined;
}

function octProblem(key: Json, alg: string): string | undefined {
  if (alg !== '' && !alg.startsWith('HS')) return `alg ${JSON.stringify(alg)} does not fit an HMAC key`;
  if (typeof key.k !== 'string') return key.k === undefined ? 'an oct key needs "k"' : '"k" must be a string';
  return base64url(key.k)?.length ? undefined : '"k" is not base64url, or empty';
}

function okpProblem(key: Json, alg: string): string | undefined {
  if (alg !== '' && alg !== 'EdDSA') return `alg ${JSON.stringify(alg)} does not fit an OKP key`;
  if (typeof key.crv !== 'string') return key.crv === undefined ? 'an OKP key needs "crv"' : '"crv" must be a string';
  if (key.crv !== 'Ed25519') return `curve ${JSON.stringify(key.crv)} is not supported (Ed25519)`;
  if (typeof key.x !== 'string') return key.x === undefined ? 'an OKP key needs "x"' : '"x" must be a string';
  return base64url(key.x)?.length === 32 ? undefined : '"x" must be 32 base64url-encoded bytes';
}

function keyProblem(key: Json): string | undefined {
  if (key.kty === undefined) return '"kty" is missing';
  if (typeof key.kty !== 'string') return '"kty" must be a string';
  const alg = typeof key.alg === 'string' ? key.alg : '';
  switch (key.kty) {
    case 'RSA':
      return rsaProblem(key, alg);
    case 'EC':
      return ecProblem(key, alg);
    case 'oct':
      return octProblem(key, alg);
    case 'OKP':
      return okpProblem(key, alg);
    default:
      return `kty ${JSON.stringify(key.kty)} is not supported (RSA, EC, oct, OKP)`;
  }
}

/** The other form Envoy reads: {"<kid>": "<PEM certificate>", ...} with RSA keys. */
function x509Problem(set: Json): string | undefined {
  const entries = Object.entries(set);
  const isX509 = entries.length > 0 && entries.every(([kid, v]) => kid !== '' && typeof v === 'string' && v.startsWith(X509_PREFIX) && v.endsWith(X509_SUFFIX));
  if (!isX509) return 'no "keys" (nor a map of key ids to PEM certificates)';
  for (const [kid, pem] of entries) {
    try {
      if (new crypto.X509Certificate(pem as string).publicKey.asymmetricKeyType !== 'rsa') return `the certificate of ${JSON.stringify(kid)} has no RSA key`;
    } catch {
      return `the certificate of ${JSON.stringify(kid)} cannot be parsed`;
    }
  }
  return undefined;
}

/** Why Envoy would refuse this key set (as JSON text); undefined when it can load it. */
export function envoyJwksProblem(jwks: string): string | undefined {
  let set: unknown;
  try {
    set = JSON.parse(jwks);
  } catch {
    return 'not JSON';
  }
  if (!isObject(set)) return 'not a JSON object';
  if (!Object.prototype.hasOwnProperty.call(set, 'keys')) return x509Problem(set);
  if (!Array.isArray(set.keys)) return '"keys" must be a list';
  // Envoy skips what is not an object, and keys it cannot parse as long as one key is usable.
  const problems = set.keys.map((key: unknown): string | undefined => (isObject(key) ? keyProblem(key) : 'not an object'));
  if (problems.some((p) => p === undefined)) return undefined;
  return problems.length > 0 ? `no usable key (key 0: ${problems[0]})` : 'no keys';
}
