import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { Algorithm } from './algorithms';

/** One public key of the issuer, bound to the algorithms it may verify. */
export interface VerificationKey {
  /** The JWK's `kid`, if it has one. */
  readonly kid: string | undefined;
  /** The imported public key. */
  readonly key: KeyObject;
  /** Algorithms this key may verify: its type's family, narrowed by the JWK's `alg` and the allow-list. */
  readonly algorithms: ReadonlySet<Algorithm>;
  /** Set when the key left the issuer's key set; it then verifies nothing. */
  removed: boolean;
}

/** A JWK read by {@link readJwk}: `identity` (type and public material) tells a key seen before; `build` imports it. */
export interface ReadJwk {
  identity: string;
  kid: string | undefined;
  build: () => VerificationKey;
}

const RSA_ALGS: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS = new Map<unknown, Algorithm[]>([['P-256', ['ES256']], ['P-384', ['ES384']], ['P-521', ['ES512']]]);
const OKP_ALGS = new Map<unknown, Algorithm[]>([['Ed25519', ['EdDSA', 'Ed25519']], ['Ed448', ['EdDSA']]]);

/**
 * Reads one JWK of a key set, binding it to the algorithms of its type (RFC 8725 section 3.1).
 * Returns `undefined` to skip it: not a public signing key of a supported type, RSA under 2048
 * bits, an `alg` that does not fit the key, or no algorithm left after the allow-list.
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-4
 */
export function readJwk(entry: unknown, allowed: ReadonlySet<Algorithm>): ReadJwk | undefined {
  if (entry === null || typeof entry !== 'object') return undefined;
  const jwk = entry as Record<string, unknown>;
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return undefined;
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return undefined;
  let family: Algorithm[];
  let material: JsonWebKey;
  if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string') {
    family = RSA_ALGS;
    material = { kty: 'RSA', n: jwk.n, e: jwk.e };
  } else if (jwk.kty === 'EC' && EC_ALGS.has(jwk.crv) && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
    family = EC_ALGS.get(jwk.crv)!;
    material = { kty: 'EC', crv: jwk.crv as string, x: jwk.x, y: jwk.y };
  } else if (jwk.kty === 'OKP' && OKP_ALGS.has(jwk.crv) && typeof jwk.x === 'string') {
    family = OKP_ALGS.get(jwk.crv)!;
    material = { kty: 'OKP', crv: jwk.crv as string, x: jwk.x };
  } else {
    return undefined;
  }
  if (jwk.alg !== undefined) {
    if (!family.includes(jwk.alg as Algorithm)) return undefined;
    family = [jwk.alg as Algorithm];
  }
  const algorithms = new Set(family.filter((alg) => allowed.has(alg)));
  if (algorithms.size === 0) return undefined;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: material, format: 'jwk' });
  } catch {
    return undefined;
  }
  if (material.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return undefined;
  const kid = jwk.kid as string | undefined;
  const identity = `${kid ?? ''}|${[...algorithms].join(',')}|${material.crv ?? ''}|${material.n ?? material.x}|${material.y ?? ''}`;
  return { identity, kid, build: () => ({ kid, key, algorithms, removed: false }) };
}
