import {
  MalformedRequestError,
  MissingTokenError,
  MultipleTokensError,
  TokenInQueryError,
  TokenTooLargeError,
} from '../errors';
import type { RequestLike } from '../util/request';

export type { RequestLike };

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const ACCESS_TOKEN_PARAM = /[?&]access_token(=|&|$)/;

/** True when the query string (not the path) has an `access_token` parameter. */
function tokenInQuery(url: string | undefined): boolean {
  if (url === undefined) return false;
  const query = url.indexOf('?');
  return query >= 0 && url.includes('access_token', query) && ACCESS_TOKEN_PARAM.test(url.slice(query));
}

/**
 * Extracts the one bearer token of a request (RFC 6750 section 2.1).
 *
 * Accepts exactly one `Authorization: Bearer <token>` (scheme case-insensitive). Throws
 * {@link MissingTokenError} when there is no bearer credential (including another scheme such as
 * Basic), {@link MalformedRequestError} for an empty or malformed value, {@link MultipleTokensError}
 * for several credentials, {@link TokenInQueryError} for an `access_token` query parameter, and
 * {@link TokenTooLargeError} past `maxLength` characters, before anything else is looked at.
 *
 * Does NOT check the token's syntax beyond whitespace and commas: {@link isB64Token} does that,
 * only for tokens the verified-token cache does not already know.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2
 */
export function extractBearer(request: RequestLike, maxLength: number): string {
  const header = request.headers.authorization;
  const inQuery = tokenInQuery(request.url);
  if (header === undefined) {
    if (inQuery) {
      throw new TokenInQueryError('Send the access token in the Authorization header ("Authorization: Bearer <token>"), not in the query string');
    }
    throw new MissingTokenError('No bearer token: send "Authorization: Bearer <token>"');
  }
  if (typeof header !== 'string' || (request.rawHeaders !== undefined && countAuthorization(request.rawHeaders) > 1)) {
    throw new MultipleTokensError('Several Authorization headers were sent; send exactly one bearer token');
  }
  if (inQuery) {
    throw new MultipleTokensError('A token was sent both in the Authorization header and in the query string; send one, in the header');
  }
  if (header.length < 7 || header.charCodeAt(6) !== 32 || !startsWithIgnoringCase(header, 'bearer')) {
    if (/^bearer\s*$/i.test(header)) {
      throw new MalformedRequestError('The Authorization header names the Bearer scheme but carries no token');
    }
    if (/^bearer[^ ]/i.test(header)) {
      throw new MalformedRequestError('The Authorization header must be "Bearer <token>", with one space after the scheme');
    }
    throw new MissingTokenError('No bearer token: the Authorization header uses another scheme; send "Authorization: Bearer <token>"');
  }
  let start = 7;
  while (header.charCodeAt(start) === 32) start++;
  const token = start === 7 ? header.slice(7) : header.slice(start);
  if (token.length === 0) {
    throw new MalformedRequestError('The Authorization header names the Bearer scheme but carries no token');
  }
  if (token.length > maxLength) {
    throw new TokenTooLargeError(`The token is ${token.length} characters long; at most ${maxLength} are accepted`);
  }
  if (token.includes(',') || token.includes(' ') || token.includes('\t')) {
    if (/,\s*bearer\b/i.test(token)) {
      throw new MultipleTokensError('The Authorization header carries several bearer credentials; send exactly one');
    }
    throw new MalformedRequestError('The bearer token contains whitespace or commas; it must be a single token68 value');
  }
  return token;
}

/** True when the token uses only the RFC 6750 `b64token` characters. */
export function isB64Token(token: string): boolean {
  return B64TOKEN.test(token);
}

function countAuthorization(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 13 && startsWithIgnoringCase(name, 'authorization')) count++;
  }
  return count;
}

/** Whether `value` starts with `lower`, in any case; `lower` must hold only lower-case ASCII letters. Allocates nothing (it runs on every request). */
function startsWithIgnoringCase(value: string, lower: string): boolean {
  if (value.length < lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    // Setting bit 0x20 lower-cases an ASCII letter; `lower` holds only letters, so nothing else can match.
    if ((value.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}
