/** Signature algorithms tokengate can verify. `none` and the HMAC family are never accepted (RFC 8725 section 3.1). */
export type Algorithm =
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA' | 'Ed25519';

/** Every algorithm tokengate supports, in the order the README lists them. */
export const SUPPORTED_ALGORITHMS: readonly Algorithm[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
];
