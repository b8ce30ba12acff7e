import { constants, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
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

/**
 * Signs a compact JWS with `node:crypto` (no ESM module is loaded, so it works under any test
 * runner). The caller binds `alg` to the key's type. ECDSA signatures are IEEE P1363, as JWS wants.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 */
export function signCompact(header: Readonly<Record<string, unknown>>, payload: Readonly<Record<string, unknown>>, alg: Algorithm, key: KeyObject): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const p = PARAMS[alg];
  const data = Buffer.from(input);
  const signature =
    p.ieee !== undefined
      ? cryptoSign(p.hash, data, { key, dsaEncoding: 'ieee-p1363' })
      : p.padding !== undefined
        ? cryptoSign(p.hash, data, { key, padding: p.padding, saltLength: p.saltLength })
        : cryptoSign(null, data, key);
  return `${input}.${signature.toString('base64url')}`;
}

/** The algorithms a key can sign or verify with: RSA any RS/PS, an EC key its curve's ES, Ed25519 EdDSA. */
export function algorithmsFor(key: KeyObject): readonly Algorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const alg = ({ prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' } as const)[key.asymmetricKeyDetails?.namedCurve as 'prime256v1'];
      return alg === undefined ? [] : [alg];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}
