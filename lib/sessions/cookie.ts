import { randomBytes } from 'node:crypto';
import type { RequestLike } from '../util/request';
import type { ResolvedBackendSessions } from './store';

/** A new session id: 256 random bits, base64url. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** The value of one cookie in a request's `Cookie` header(s), or undefined. */
export function readCookie(request: RequestLike, name: string): string | undefined {
  const header = request.headers.cookie;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text === undefined) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A `Set-Cookie` value for the session id; `maxAge` in seconds (0 clears the cookie). */
export function sessionCookie(options: ResolvedBackendSessions, id: string, maxAge: number): string {
  let cookie = `${options.cookieName}=${id}; Path=${options.path}; Max-Age=${Math.max(0, Math.floor(maxAge))}; HttpOnly; SameSite=${options.sameSite}`;
  if (options.secure) cookie += '; Secure';
  if (options.domain !== undefined) cookie += `; Domain=${options.domain}`;
  return cookie;
}
