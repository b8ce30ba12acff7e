/**
 * Operational events, delivered to the `onEvent` option. They name URLs, key ids and counts, never a
 * token. A listener that throws is ignored: events never change a verdict.
 */
export type TokengateEvent =
  | {
      /** The key set was fetched. */
      type: 'keys.refreshed';
      /** Key ids now held. */
      kids: string[];
      /** Key ids that left the set (their cached verdicts were dropped). */
      removed: string[];
      /** Entries of the JWKS that were skipped as unusable. */
      skipped: number;
      /** Seconds until the set is considered old. */
      maxAge: number;
    }
  | {
      /** Fetching discovery or the JWKS failed. */
      type: 'keys.error';
      /** What failed and why. */
      message: string;
      /** Whether keys already held keep serving (within `keySet.staleIfError`). */
      servingStale: boolean;
    }
  | {
      /** Introspection or the Okta Sessions API failed, was slow, or is rate-limited. */
      type: 'upstream.error';
      service: 'introspection' | 'sessions';
      message: string;
    }
  | {
      /** A route with `failMode: 'open'` let a request through although a liveness check could not be made. */
      type: 'fail-open';
      service: 'introspection' | 'sessions';
      /** The error code the request would otherwise have got. */
      code: string;
      /** The token's `sub`, for the audit trail. */
      subject: string | undefined;
    }
  | {
      /** An operation on the shared denylist store (`revocation.store`) failed; it is retried with backoff. */
      type: 'revocation.error';
      operation: 'subscribe' | 'load' | 'write' | 'close';
      /** What the store said. */
      message: string;
      /** Entries this instance holds that the store has not taken yet. */
      unwritten: number;
    }
  | {
      /** The local mirror is in step with the shared denylist store again (at start-up, or after an outage). */
      type: 'revocation.synced';
      /** Entries loaded from the store. */
      entries: number;
      /** Entries still to be written to it (written now). */
      unwritten: number;
    }
  | {
      /**
       * The shared answer store of a liveness service (`sessions.store`, `introspection.store`) is
       * in use again (`usable: true`), or failed and this instance asks the upstream itself for a
       * while (`usable: false`, with what the store said).
       */
      type: 'liveness.shared';
      service: 'introspection' | 'sessions';
      usable: boolean;
      message?: string;
    }
  | {
      /** A step of a logout failed (the route's answer names the step only; the reason is here). */
      type: 'logout.failed';
      step: string;
      message: string;
    }
  | {
      /**
       * A token's `iss` differs from the `issuer` option only by a trailing slash: the option is
       * probably off by that slash (every such token is refused, 401). Sent once per guard; the
       * answer to the client never names the expected issuer.
       */
      type: 'issuer.mismatch';
      /** The token's `iss`, shortened to printable characters. */
      received: string;
      /** The `issuer` option. */
      configured: string;
    }
  | {
      /** A push receiver (the SSF receiver, the Okta Event Hook receiver) took one event. */
      type: 'push.received';
      receiver: 'ssf' | 'event-hook';
      /** The event type: a CAEP/SSF event type URI, or an Okta event type such as `user.session.end`. */
      event: string;
      /**
       * `applied`: it went on the denylist; `duplicate`: the same event again (its entries were
       * there already); `ignored`: nothing to do (a verification or stream event, an event type or
       * outcome the receiver does not act on, a credential change your option ignores).
       */
      outcome: 'applied' | 'duplicate' | 'ignored';
    }
  | {
      /** A push receiver refused a request: a bad signature, issuer, audience or secret, a malformed body. */
      type: 'push.refused';
      receiver: 'ssf' | 'event-hook';
      /** The status answered. */
      status: number;
      /** The RFC 8935 error code (SSF receiver only). */
      err?: string;
      message: string;
    }
  | {
      /**
       * `sessions.pushed` is on but pushes cannot be relied on, so `sessions.cacheTtl` is held to
       * 300 s: no push receiver was mounted on this guard, or the SSF transmitter said the stream is
       * paused or disabled. Sent once each time that becomes so.
       */
      type: 'push.degraded';
      reason: 'no receiver' | 'stream paused' | 'stream disabled';
    }
  | {
      /** Okta reported a session ended (404) or in a status that does not pass. */
      type: 'session.ended';
      /** `ENDED`, the status Okta reported, or `LOGGED_OUT` (back-channel logout). */
      status: string;
    }
  | {
      /**
       * One call to the issuer or to Okta ended. Built only while someone listens (`onEvent`, or
       * `guard.subscribe()`); never names the URL (a session id is in the Sessions API's path).
       */
      type: 'upstream.call';
      service: UpstreamService;
      result: UpstreamResult;
      /** The HTTP status; undefined when no answer came. */
      status: number | undefined;
      /** From handing the request to the HTTP client to its end, seconds on the guard's clock. */
      duration: number;
    }
  | {
      /**
       * One token was presented by more distinct clients (addresses, or user agents) within the
       * `anomaly.window` than `anomaly.maxClients` allows: it may have been copied. Sent once when
       * the count goes past the limit (again only after it fell back). Never holds the token.
       */
      type: 'token.anomaly';
      /** What told the clients apart (`anomaly.by`). */
      by: 'address' | 'userAgent';
      /** Distinct clients seen within the window, at least `maxClients` + 1. */
      clients: number;
      /** `anomaly.window`, seconds. */
      window: number;
      /** What the request that crossed the limit got: its route's `onAnomaly`. */
      action: 'reported' | 'refused';
      /** The client (address or user agent, shortened to printable characters) whose request crossed the limit. */
      client: string;
      /** The token's `sub` and `jti`, for the audit trail (`guard.revoke('jti', jti)` ends it everywhere). */
      subject: string | undefined;
      jti: string | undefined;
    };

/** The upstreams tokengate calls, as `upstream.call` events and metrics name them. */
export type UpstreamService = 'discovery' | 'jwks' | 'introspection' | 'sessions' | 'token' | 'revoke';

/**
 * How an upstream call ended: `ok` (2xx), `not_found` (404: for the Sessions API, a session that
 * ended), `rate_limited` (429), `client_error` (another 4xx), `server_error` (5xx), `other_status`
 * (1xx, 3xx: redirects are not followed), or no usable answer: `timeout`, `network`, `too_large`, `error`.
 */
export type UpstreamResult = 'ok' | 'not_found' | 'rate_limited' | 'client_error' | 'server_error' | 'other_status' | 'timeout' | 'network' | 'too_large' | 'error';

/** A receiver of {@link TokengateEvent}s. */
export type EventListener = (event: TokengateEvent) => void;

/**
 * The guard's one event stream: the `onEvent` option, then every listener added with
 * `guard.subscribe()`, each shielded from the others' failures. Internal.
 */
export class EventHub {
  private listeners: readonly EventListener[] = [];
  /** Whether anyone listens: events built per call (`upstream.call`) are built only then. */
  active: boolean;

  constructor(private readonly onEvent: EventListener | undefined) {
    this.active = onEvent !== undefined;
  }

  /** Delivers an event to `onEvent` and every subscriber. */
  readonly emit = (event: TokengateEvent): void => {
    emit(this.onEvent, event);
    for (const listener of this.listeners) emit(listener, event);
  };

  /** Adds a listener; returns the function that removes it (calling it twice does nothing). */
  subscribe(listener: EventListener): () => void {
    if (typeof listener !== 'function') throw new TypeError('tokengate: subscribe() needs a listener function');
    // Copied on write: a listener removed while an event is delivered does not disturb the loop.
    this.listeners = [...this.listeners, listener];
    this.active = true;
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const at = this.listeners.indexOf(listener);
      this.listeners = [...this.listeners.slice(0, at), ...this.listeners.slice(at + 1)];
      this.active = this.onEvent !== undefined || this.listeners.length > 0;
    };
  }
}

/** Calls the listener, if any, shielding the caller from its failures: a throw, or an `async` listener's rejection. */
export function emit(listener: ((event: TokengateEvent) => void) | undefined, event: TokengateEvent): void {
  if (listener === undefined) return;
  try {
    const returned = listener(event) as unknown;
    // An async listener whose sink is down must not become an unhandled rejection (Node would exit).
    if (returned !== null && typeof returned === 'object' && typeof (returned as PromiseLike<unknown>).then === 'function') {
      (returned as PromiseLike<unknown>).then(undefined, () => undefined);
    }
  } catch {
    // A faulty listener must not turn into an authentication failure.
  }
}
