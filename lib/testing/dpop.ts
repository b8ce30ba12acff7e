import { randomUUID, type KeyObject } from 'node:crypto';
import type { Algorithm } from '../jose/algorithms';
import { jwkThumbprint, publicJwk, signProof } from '../jose/dpop';

export { publicJwk };

/** Options of {@link createDpopProof}. */
export interface DpopProofOptions {
  /** The client's private key (its public half goes into the proof's `jwk` header). */
  privateKey: KeyObject;
  /** The request method (`htm`). */
  method: string;
  /** The request URL (`htu`); query and fragment are dropped, as RFC 9449 wants. */
  url: string;
  /** The access token the request carries; its hash becomes `ath`. Leave out for a proof to a token endpoint. */
  accessToken?: string;
  /** The server nonce (`DPoP-Nonce`), when the server asked for one. */
  nonce?: string;
  /** Signing algorithm. Default: ES256/ES384/ES512 by curve, EdDSA for Ed25519, PS256 for RSA. */
  alg?: Algorithm;
  /** `iat`, seconds since the epoch. Default: now. */
  iat?: number;
  /** `jti`. Default: a fresh UUID. */
  jti?: string;
  /** Header fields to set or, with `undefined`, remove (for tests of broken proofs). */
  header?: Record<string, unknown>;
  /** Claims to set or, with `undefined`, remove (for tests of broken proofs). */
  claims?: Record<string, unknown>;
}

/** The RFC 7638 thumbprint of a key's public JWK: the `cnf.jkt` of tokens bound to it. */
export function dpopThumbprint(key: KeyObject): string {
  return jwkThumbprint(publicJwk(key))!;
}

/**
 * Makes a DPoP proof (RFC 9449 section 4.2) for one request, signed with the client's key: `typ`
 * `dpop+jwt`, the public `jwk`, `jti`, `htm`, `htu`, `iat`, and `ath` when an access token is given.
 * Mint the matching bound token with `okta.token(claims, { dpop: privateKey })`.
 *
 * @example
 * const { privateKey } = createKeyPair('ES256');
 * const token = okta.token({}, { dpop: privateKey });
 * const proof = createDpopProof({ privateKey, method: 'GET', url: 'http://127.0.0.1:3000/orders', accessToken: token });
 * await request(app).get('/orders').set('authorization', `DPoP ${token}`).set('dpop', proof);
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
 */
export function createDpopProof(options: DpopProofOptions): string {
  return signProof({ ...options, iat: options.iat ?? Math.floor(Date.now() / 1000), jti: options.jti ?? randomUUID() });
}
