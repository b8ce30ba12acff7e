import { authenticate, type ResolvedClient } from './client-auth';
import type { HttpClient, HttpRequest, HttpResponse } from './http';

/** Deadline (seconds) and largest body (bytes) of one call. */
export interface CallLimits {
  timeout: number;
  maxBytes: number;
}

/**
 * Hands a request to the HTTP client, then reads the clock: `sent` is when the client had it. Read
 * before, a pause in between (a GC) would let the next call for the same key reach the client less
 * than a cache TTL after this one did.
 */
export async function sendTimed(http: HttpClient, request: HttpRequest, clock: () => number): Promise<{ response: HttpResponse; sent: number }> {
  const pending = http.request(request);
  const sent = clock();
  return { response: await pending, sent };
}

/** What one form POST to an issuer endpoint needs. */
export interface FormPost {
  http: HttpClient;
  endpoint: string;
  /** The client to authenticate as (RFC 6749 section 2.3, RFC 7523). */
  client: ResolvedClient;
  /** The form parameters; client authentication is added to a copy. */
  form: Readonly<Record<string, string>>;
  limits: CallLimits;
  clock: () => number;
  /** Called once the client is authenticated, just before the request goes (counters of calls sent). */
  sending?: () => void;
  /** More request headers (a DPoP proof). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * The one form POST to the issuer (introspection, token, revocation endpoints):
 * `application/x-www-form-urlencoded`, client authentication, `Accept: application/json`, the
 * caller's deadline and size limit. Resolves to the response and when the HTTP client had it.
 */
export async function postForm(post: FormPost): Promise<{ response: HttpResponse; sent: number }> {
  const form: Record<string, string> = { ...post.form };
  const headers: Record<string, string> = { ...post.headers, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  await authenticate(post.client, post.endpoint, form, headers, post.clock());
  post.sending?.();
  const request: HttpRequest = { method: 'POST', url: post.endpoint, headers, body: new URLSearchParams(form).toString(), timeout: post.limits.timeout, maxBytes: post.limits.maxBytes };
  return sendTimed(post.http, request, post.clock);
}
