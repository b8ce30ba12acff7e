import type { KeyObject } from 'node:crypto';
import type { ClientCredentials } from '../issuer/client-auth';
import type { AnswerStore } from './answer-store';
import type { ApiCredentialsConfig } from './okta-api-credentials';

/** Options of the Okta session liveness check (the `sessions` guard option). */
export interface SessionOptions {
  /** The Okta org URL, e.g. `https://example.okta.com`. Default: the issuer's origin. */
  orgUrl?: string;
  /** An Okta API token, sent as `Authorization: SSWS <token>`. Give this or `client`. */
  apiToken?: string;
  /**
   * OAuth 2.0 client credentials for the Okta API (a service app with `okta.sessions.read`,
   * authenticating with `private_key_jwt`). The access token is cached until 60 s before it expires.
   * `dpop`: for a service app with "Require DPoP" on, `true` (a P-256 key made at start-up) or a
   * private key of your own: the token is then DPoP-bound (Okta's `use_dpop_nonce` is handled) and
   * every Sessions API call carries its proof. Default `false`.
   */
  client?: ClientCredentials & { scopes?: readonly string[]; tokenEndpoint?: string; dpop?: boolean | KeyObject };
  /** The claim that carries the Okta session id (added by a Token Inline Hook). Default `'sid'`. */
  claim?: string;
  /** Session statuses that pass. Default `['ACTIVE']`. */
  acceptStatuses?: readonly string[];
  /**
   * How long a passing answer is reused per session id, in seconds from its arrival (never past the
   * session's `expiresAt`); an answer in use is renewed `cacheTtl` after the previous call was handed
   * to the HTTP client, while it still serves. Default 30; at most 300 (with `pushed`: default 300,
   * at most 3600).
   */
  cacheTtl?: number;
  /**
   * How long past `cacheTtl` a passing answer may still serve while the call that renews it is in
   * flight (a request arriving then starts that call if none has), in seconds, 0–60; never past the
   * session's `expiresAt`. Requests then wait for no renewal slower than the call before it (a
   * session ended at Okta is refused up to this much later); 0: they do, and no answer serves past
   * its TTL. Default 1.
   */
  staleWhileRevalidate?: number;
  /**
   * Session ends arrive by push (an `ssfReceiver` or `oktaEventHook` mounted on the guard puts them
   * on the denylist at once), so polling is only the backstop for a push that is lost: `cacheTtl`
   * may be long. While no receiver is mounted on the guard, or the SSF stream is paused or disabled,
   * answers are cached for at most 300 s (a `push.degraded` event says so). Default `false`.
   */
  pushed?: boolean;
  /** How long past `cacheTtl` a passing answer may still be served while the API is rate-limited or down, in seconds. Default 120. */
  staleIfError?: number;
  /** Most session ids kept. Default 10000. */
  cacheMax?: number;
  /** Deadline of one request, in seconds. Default 5. */
  timeout?: number;
  /** Largest response body, in bytes. Default 65536. */
  maxBytes?: number;
  /** No calls for this long after a failure (without rate-limit headers), in seconds. Default 5. */
  retryAfter?: number;
  /**
   * Shares answers with every instance using the same store (`redisAnswerStore()` from
   * `tokengate/redis`): one Sessions API call per session per `cacheTtl` for the whole fleet, and a
   * rate-limit pause seen by one instance pauses all. Keyed by a SHA-256 of the org URL and the
   * session id. Default: none (each instance asks Okta itself).
   */
  store?: AnswerStore;
}

/** Validated session options. Internal. */
export interface ResolvedSessions {
  orgUrl: string;
  apiToken: string | undefined;
  client: ApiCredentialsConfig['client'];
  claim: string;
  acceptStatuses: ReadonlySet<string>;
  cacheTtl: number;
  staleWhileRevalidate: number;
  pushed: boolean;
  staleIfError: number;
  cacheMax: number;
  timeout: number;
  maxBytes: number;
  retryAfter: number;
  store: AnswerStore | undefined;
}
