/**
 * The little of an HTTP request the guard reads. Node's `IncomingMessage` (and so Express's `req`
 * and Koa's `ctx.req`) already is one.
 */
export interface RequestLike {
  /** HTTP method. Not read by the core checks; passed through for policies and logs. */
  method?: string;
  /** Request target (path and query), read to refuse tokens in the query string. */
  url?: string;
  /** The target as received, before a router rewrote `url` (Express sets it); read for a DPoP proof's `htu`. */
  originalUrl?: string;
  /** Headers with lower-case names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * Raw header list, as Node gives it. Node keeps only the first of several `Authorization`
   * headers in `headers`; with `rawHeaders` the guard sees them all and refuses the request.
   */
  rawHeaders?: readonly string[];
  /**
   * The connection: its `remoteAddress` is the client address the `anomaly` detector uses by
   * default; a TLS socket (`encrypted: true`) makes the request's origin `https` for a DPoP proof's `htu`.
   */
  socket?: { readonly remoteAddress?: string; readonly encrypted?: boolean };
}
