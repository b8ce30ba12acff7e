import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { Algorithm } from './algorithms';

/** Node signature parameters per JWS algorithm (RFC 7518 section 3). */
interface SignatureParams {
  hash: string | null;
  padding?: number;
  saltLength?: number;
  ieee?: number;
}

const PARAMS: Record<Algorithm, SignatureParams> = {
  RS256: { hash: 'sha256', padding: constants.RSA_PKCS1_PADDING },
  RS384: { hash: 'sha384', padding: constants.RSA_PKCS1_PADDING },
  RS512: { hash: 'sha512', padding: constants.RSA_PKCS1_PADDING },
  PS256: { hash: 'sha256', padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
  PS384: { hash: 'sha384', padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
  PS512: { hash: 'sha512', padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
  ES256: { hash: 'sha256', ieee: 64 },
  ES384: { hash: 'sha384', ieee: 96 },
  ES512: { hash: 'sha512', ieee: 132 },
  EdDSA: { hash: null },
  Ed25519: { hash: null },
};

/**
 * Verifies a JWS signature with `node:crypto`. The caller has already bound `alg` to the key's type
 * (see the key set); this checks the signature bytes only. ECDSA signatures must be the exact
 * IEEE P1363 length; RSA-PSS salts must equal the digest length.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3
 */
export function verifySignature(alg: Algorithm, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const p = PARAMS[alg];
  if (p.ieee !== undefined) {
    if (signature.length !== p.ieee) return false;
    return cryptoVerify(p.hash, Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }, signature);
  }
  if (p.padding !== undefined) {
    return cryptoVerify(p.hash, Buffer.from(signingInput), { key, padding: p.padding, saltLength: p.saltLength }, signature);
  }
  return cryptoVerify(null, Buffer.from(signingInput), key, signature);
}
