import { SessionClaimMissingError, UpstreamUnavailableError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import { ownClaim } from '../util/claims';
import type { Introspector } from './introspection';
import { SESSION_ID_SHAPE, usableSessionId, type SessionChecker } from './okta-sessions';

/** What a route asks of liveness (the `introspect`, `session` and `failMode` fields of its policy). */
export interface LivenessRules {
  readonly introspect?: boolean;
  readonly session?: 'strict' | 'off';
  readonly failMode?: 'closed' | 'open';
}

/** The little of a verified token the liveness checks read. */
export interface LiveToken {
  readonly token: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly subject: string | undefined;
  readonly expiresAt: number | undefined;
}

/**
 * The route's liveness checks: introspection (RFC 7662) and the Okta session (`session: 'strict'`),
 * side by side. The one place where `failMode` decides what an upstream that cannot answer means:
 * `'closed'` rethrows its 503, `'open'` lets the request through with a `fail-open` event.
 */
export class Liveness {
  constructor(
    readonly introspector: Introspector | undefined,
    readonly sessions: SessionChecker | undefined,
    /** The claim that carries the Okta session id. */
    private readonly sessionClaim: string,
    private readonly onEvent: ((event: TokengateEvent) => void) | undefined,
  ) {}

  /** Whether a route asks for a check. */
  static wanted(rules: LivenessRules | undefined): boolean {
    return rules !== undefined && (rules.introspect === true || rules.session === 'strict');
  }

  /** Throws a `TypeError` when a route asks for a check the guard is not configured for (`liveness` undefined: none). Called at mount. */
  static require(liveness: Liveness | undefined, rules: LivenessRules | undefined): void {
    if (rules?.introspect && liveness?.introspector === undefined) {
      throw new TypeError('tokengate: a policy asks for "introspect" but the guard has no "introspection" option');
    }
    if (rules?.session === 'strict' && liveness?.sessions === undefined) {
      throw new TypeError('tokengate: a policy asks for session "strict" but the guard has no "sessions" option');
    }
  }

  /** Runs the route's checks; rejects with what they found, or a 503 on a `failMode: 'closed'` route. */
  async check(token: LiveToken, rules: LivenessRules): Promise<void> {
    // The session id first: it may throw, and no check may be started that nobody then awaits.
    const sid = rules.session === 'strict' ? this.sessionIdOf(token) : undefined;
    const checks: Promise<void>[] = [];
    if (rules.introspect) {
      const introspector = this.introspector!;
      checks.push(this.tolerate('introspection', rules, token, async () => introspector.requireActive(await introspector.introspect(token.token, token.expiresAt))));
    }
    if (sid !== undefined) checks.push(this.tolerate('sessions', rules, token, () => this.sessions!.check(sid, token.expiresAt ?? 0)));
    await Promise.all(checks);
  }

  /**
   * The same checks when nothing needs waiting for: `true` when every one is decided by a fresh
   * cached answer (a failing one throws), `false` when an upstream must be asked (use {@link Liveness.check}).
   */
  checkSync(token: LiveToken, rules: LivenessRules): boolean {
    if (rules.introspect) return false;
    return rules.session !== 'strict' || this.sessions!.checkCached(this.sessionIdOf(token));
  }

  /** The token's Okta session id, which strict session checking needs; throws when it has none. */
  sessionIdOf(token: LiveToken): string {
    const claim = this.sessionClaim;
    const sid = ownClaim(token.claims, claim);
    if (!usableSessionId(sid)) {
      throw new SessionClaimMissingError(
        claim,
        `The token carries no usable "${claim}" claim (${SESSION_ID_SHAPE}), which strict session checking needs to find its Okta session (add it with a Token Inline Hook from data.context.session.id)`,
      );
    }
    return sid;
  }

  /** Forgets what is known of a token and a session (logout). */
  forget(token: string | undefined, sessionId: string | undefined): void {
    if (token !== undefined) this.introspector?.forget(token);
    if (sessionId !== undefined) this.sessions?.forget(sessionId);
  }

  /** Settles once the shared answer stores' first subscription attempts have (never rejects). */
  async ready(): Promise<void> {
    await Promise.all([this.sessions?.answers.ready(), this.introspector?.answers.ready()]);
  }

  /** Stops renewals and the sharing of answers (the guard is closing). */
  async stop(): Promise<void> {
    await Promise.all([this.sessions?.stop(), this.introspector?.stop()]);
  }

  private async tolerate(service: 'introspection' | 'sessions', rules: LivenessRules, token: LiveToken, check: () => Promise<void>): Promise<void> {
    try {
      await check();
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError) || rules.failMode !== 'open') throw error;
      emit(this.onEvent, { type: 'fail-open', service, code: error.code, subject: token.subject });
    }
  }
}
