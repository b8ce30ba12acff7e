import { MalformedTokenError } from '../errors';
import type { Algorithm } from './algorithms';

/** The protected header of a JWS, as sent. */
export interface JwtHeader {
  alg: Algorithm;
  kid?: string;
  typ?: string;
  [parameter: string]: unknown;
}

/** The claims of an access token, as sent. Okta's `scp`, `cid` and `uid` are typed for convenience. */
export interface JwtClaims {
  iss: string;
  aud: string | string[];
  exp: number;
  sub?: string;
  iat?: number;
  nbf?: number;
  jti?: string;
  scp?: string[];
  scope?: string;
  cid?: string;
  client_id?: string;
  uid?: string;
  [claim: string]: unknown;
}

/** A compact JWS split into its parts. Nothing in it is verified yet. */
export interface DecodedJwt {
  header: JwtHeader;
  claims: JwtClaims;
  /** `base64url(header) + '.' + base64url(payload)`: the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Splits a compact JWS and parses its header and payload. Throws {@link MalformedTokenError}
 * unless it has exactly three base64url parts whose first two are non-empty JSON objects. An empty
 * signature passes here so that `alg: none` is refused by name by the header checks.
 *
 * Does NOT check the signature or any claim.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 */
export function decodeJwt(token: string): DecodedJwt {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0 || token.indexOf('.', second + 1) >= 0) {
    throw new MalformedTokenError('The token is not a JWT: it must have three dot-separated parts');
  }
  const head = token.slice(0, first);
  const body = token.slice(first + 1, second);
  const sig = token.slice(second + 1);
  if (!base64url(head) || !base64url(body) || (sig.length > 0 && (!base64url(sig) || !canonical(sig)))) {
    throw new MalformedTokenError('The token is not a JWT: its header and payload must be non-empty base64url without padding');
  }
  const header = parseObject(head, 'header') as JwtHeader;
  const claims = parseObject(body, 'payload') as JwtClaims;
  return { header, claims, signingInput: token.slice(0, second), signature: Buffer.from(sig, 'base64url') };
}

function base64url(part: string): boolean {
  return part.length % 4 !== 1 && BASE64URL.test(part);
}

/**
 * True when the unused low bits of the last character are zero, so that each signature has one
 * spelling only (the signature is not itself signed, and a second spelling would be a second token).
 */
function canonical(part: string): boolean {
  const spare = part.length % 4 === 2 ? 0b1111 : part.length % 4 === 3 ? 0b11 : 0;
  return spare === 0 || (ALPHABET.indexOf(part[part.length - 1]) & spare) === 0;
}

function parseObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch (error) {
    throw new MalformedTokenError(`The token's ${what} is not valid JSON`, { cause: error });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new MalformedTokenError(`The token's ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}
