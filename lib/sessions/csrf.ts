import { CsrfRejectedError } from '../errors';
import type { RequestLike } from '../util/request';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses cross-site unsafe requests authenticated by cookie: `Sec-Fetch-Site` must be
 * `same-origin` or `none` when sent; otherwise `Origin` must be the request's own origin or an
 * allowed one; a request with neither header is refused (browsers send at least one on unsafe requests).
 * @see https://owasp.org/www-community/attacks/csrf
 */
export function checkCsrf(request: RequestLike, allowedOrigins: ReadonlySet<string>): void {
  if (request.method === undefined || SAFE_METHODS.has(request.method.toUpperCase())) return;
  const site = single(request.headers['sec-fetch-site']);
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return;
    throw new CsrfRejectedError(`A ${site} ${request.method} request may not use the session cookie`);
  }
  const origin = single(request.headers.origin);
  if (origin === undefined) throw new CsrfRejectedError(`A ${request.method} request with the session cookie must carry Origin or Sec-Fetch-Site`);
  const host = single(request.headers.host);
  const own = host !== undefined && (origin === `https://${host}` || origin === `http://${host}`);
  if (!own && !allowedOrigins.has(origin)) throw new CsrfRejectedError(`Origin ${origin.slice(0, 100)} may not make ${request.method} requests with the session cookie`);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
