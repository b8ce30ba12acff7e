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
    };

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
