import { AuthError, DpopProofError, MalformedRequestError, TokenTooLargeError, type AuthErrorCode } from '../errors';
import type { EventHub, EventListener } from '../events';
import type { HttpClient } from '../issuer/http';
import { OktaEventHookReceiver, type OktaEventHookOptions } from '../logout/event-hook';
import { logout, type LogoutContext, type LogoutRequest, type LogoutResult } from '../logout/logout';
import type { PushContext } from '../logout/push';
import { receiveBackchannelLogout, receiveUniversalLogout, type ReceiverContext } from '../logout/receivers';
import { SsfReceiver, type SsfReceiverOptions } from '../logout/ssf-receiver';
import { resolveEventHook, resolveSsfReceiver } from '../options/receivers';
import { revocationEntry, type RevocationKind } from '../revocation/denylist';
import type { SharedDenylist } from '../revocation/shared';
import type { BackendSessions } from '../sessions/backend';
import type { BackendSessionData } from '../sessions/store';
import { ownClaim } from '../util/claims';
import type { RequestLike } from '../util/request';
import { usesDpopScheme } from '../verify/dpop';
import type { AnomalyDetector } from '../verify/anomaly';
import type { Handled, RefreshHooks, TokenSet } from '../verify/pipeline';
import type { Policy } from '../verify/policy';
import type { AuthResult } from '../verify/result';
import { handleSessionRequest } from '../verify/session-request';
import { closeIssuer, issuerStats, sumStats, type IssuerRuntime } from './issuer-runtime';
import type { IssuerRouter, RequestPath } from './issuer-router';
import type { Guard, GuardStats, IssuerStats } from './types';

/** What a guard is made of (see `createGuard`); a part is undefined when its option is not given. */
export interface GuardParts {
  issuer: string;
  realm: string;
  maxTokenLength: number;
  clock: () => number;
  http: HttpClient;
  /** Whether the guard made `http` itself, and so closes it. */
  ownsHttp: boolean;
  /** The request path: the single issuer's pipeline, or the router of several. */
  pipeline: RequestPath;
  /** The single issuer's parts; undefined with several issuers. */
  one?: IssuerRuntime;
  /** The issuers of a guard with several; undefined with one. */
  router?: IssuerRouter;
  denylist: SharedDenylist;
  backendSessions?: BackendSessions;
  /** The logout receivers, push receivers and logout: built for a single issuer only. */
  receivers?: ReceiverContext;
  push?: PushContext;
  logout?: LogoutContext;
  sessionClaim: string;
  /** The longest a token issued now can still be accepted, seconds: the default life of a revocation. */
  revocationLifetime: number;
  /** The `algs` of the `DPoP` challenge. */
  dpopAlgs: string;
  /** The guard's event stream (`onEvent`, and `subscribe()`'s listeners). */
  events: EventHub;
  anomaly: AnomalyDetector | undefined;
}

/**
 * The facade: each method is its documentation (see {@link Guard}) plus a short chain of steps of
 * the parts. Every {@link AuthError} leaves with the realm's `WWW-Authenticate` challenge.
 */
export class TokenGuard implements Guard {
  readonly issuer: string;
  readonly realm: string;
  /** The SSF receivers built for this guard, whose key sets stop with it. */
  private readonly transmitters: SsfReceiver[] = [];
  /** Decisions of the request methods (see `GuardStats.decisions`): one increment each, whoever listens. */
  private allowed = 0;
  private readonly refused = new Map<AuthErrorCode, number>();
  private errors = 0;
  private shut = false;

  constructor(private readonly parts: GuardParts) {
    this.issuer = parts.issuer;
    this.realm = parts.realm;
  }

  compile(policy?: Policy): Policy | undefined {
    return this.parts.pipeline.compile(policy);
  }

  async verify(request: RequestLike, policy?: Policy): Promise<AuthResult> {
    try {
      const { token, dpop } = this.parts.pipeline.credential(request, policy);
      const auth = await this.parts.pipeline.run(token, policy, request, dpop);
      this.allowed++;
      return auth;
    } catch (error) {
      throw this.refuse(error, request, policy);
    }
  }

  async verifyToken(token: string, policy?: Policy): Promise<AuthResult> {
    try {
      if (typeof token !== 'string' || token.length === 0) throw new MalformedRequestError('No token was given');
      const max = this.parts.maxTokenLength;
      if (token.length > max) throw new TokenTooLargeError(`The token is ${token.length} characters long; at most ${max} are accepted`);
      const auth = await this.parts.pipeline.run(token, policy);
      this.allowed++;
      return auth;
    } catch (error) {
      throw this.refuse(error);
    }
  }

  async handle(request: RequestLike, policy?: Policy, hooks?: RefreshHooks): Promise<Handled> {
    const { pipeline, one, backendSessions: sessions } = this.parts;
    try {
      let handled: Handled;
      // Backend sessions exist with a single issuer only (see the option).
      if (one !== undefined && sessions?.carries(request)) {
        handled = await handleSessionRequest({ pipeline: one.pipeline, verifier: one.verifier, sessions, strictSessions: one.liveness?.sessions !== undefined }, request, policy);
      } else {
        const { token, dpop } = pipeline.credential(request, policy);
        try {
          handled = { auth: await pipeline.run(token, policy, request, dpop) };
        } catch (error) {
          // A DPoP-bound token is never refreshed here: its new tokens would need the client's key.
          if (dpop) throw error;
          handled = await pipeline.recover(token, policy, hooks, error);
        }
      }
      this.allowed++;
      return handled;
    } catch (error) {
      throw this.refuse(error, request, policy);
    }
  }

  handleSync(request: RequestLike, policy?: Policy): Handled | undefined {
    try {
      if (this.parts.backendSessions?.carries(request)) return undefined;
      const auth = this.parts.pipeline.handleSync(request, policy);
      if (auth === undefined) return undefined;
      this.allowed++;
      return { auth };
    } catch (error) {
      throw this.refuse(error, request, policy);
    }
  }

  refresh(refreshToken: string): Promise<TokenSet> {
    return this.guarded(() => this.parts.pipeline.refresh(refreshToken));
  }

  async revoke(kind: RevocationKind, value: string, until?: number): Promise<void> {
    const entry = revocationEntry(kind, value, until, this.parts.clock(), this.parts.revocationLifetime);
    if (kind === 'sid') for (const runtime of this.runtimes()) runtime.liveness?.forget(undefined, value);
    await this.parts.denylist.put(entry);
  }

  /**
   * {@link Guard.revoke} as of a time an event pushed by the issuer names (`at`, ms, never later
   * than now): a `sub` entry then spares the tokens issued after that time, and the entry lasts as
   * long as a token issued then can be accepted. Nothing is written when no such token can be left.
   */
  async revokeSince(kind: RevocationKind, value: string, at: number): Promise<void> {
    const now = this.parts.clock();
    const since = Math.min(at, now);
    if (since + this.parts.revocationLifetime * 1000 <= now) return;
    const entry = revocationEntry(kind, value, undefined, now, this.parts.revocationLifetime, since);
    if (kind === 'sid') for (const runtime of this.runtimes()) runtime.liveness?.forget(undefined, value);
    await this.parts.denylist.put(entry);
  }

  logout(request: LogoutRequest): Promise<LogoutResult> {
    return logout(request, this.single(this.parts.logout, 'logout()'));
  }

  async startSession(auth: AuthResult, tokens: { refreshToken?: string; idToken?: string } = {}): Promise<{ id: string; cookie: string; expiresAt: number }> {
    const sid = ownClaim(auth.claims, this.parts.sessionClaim);
    return this.sessions().start({
      accessToken: auth.token,
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken,
      sid: typeof sid === 'string' ? sid : undefined,
      subject: auth.subject,
    });
  }

  async sessionFor(request: RequestLike): Promise<{ id: string; data: BackendSessionData } | undefined> {
    return this.parts.backendSessions?.find(request);
  }

  clearSessionCookie(): string {
    return this.sessions().clearCookie();
  }

  backchannelLogout(logoutToken: string): Promise<{ sid?: string; subject?: string }> {
    return receiveBackchannelLogout(this.single(this.parts.receivers, 'backchannelLogout()'), logoutToken);
  }

  universalLogout(bearer: string, body: unknown, audience: string): Promise<{ subject: string }> {
    return receiveUniversalLogout(this.single(this.parts.receivers, 'universalLogout()'), bearer, body, audience);
  }

  ssfReceiver(options: SsfReceiverOptions): SsfReceiver {
    const receiver = new SsfReceiver(resolveSsfReceiver(options, this.issuer), this.single(this.parts.push, 'ssfReceiver()'));
    this.transmitters.push(receiver);
    return receiver;
  }

  oktaEventHook(options: OktaEventHookOptions): OktaEventHookReceiver {
    return new OktaEventHookReceiver(resolveEventHook(options), this.single(this.parts.push, 'oktaEventHook()'));
  }

  ready(): Promise<void> {
    return this.guarded(async () => {
      for (const runtime of this.runtimes()) {
        await runtime.keys.ready();
        await runtime.liveness?.ready();
      }
      await this.parts.denylist.ready();
    });
  }

  subscribe(listener: EventListener): () => void {
    return this.parts.events.subscribe(listener);
  }

  stats(): GuardStats {
    const { denylist, anomaly, one } = this.parts;
    const runtimes = this.runtimes();
    const base: IssuerStats = one !== undefined ? issuerStats(one) : sumStats(runtimes.map(issuerStats));
    const stats: GuardStats = {
      ...base,
      revocation: { size: denylist.size, live: denylist.downSince === undefined, unwritten: denylist.unwritten },
      refreshes: runtimes.reduce((n, runtime) => n + (runtime.refresher?.calls ?? 0), 0),
      decisions: { allowed: this.allowed, refused: Object.fromEntries(this.refused), errors: this.errors },
    };
    if (one === undefined) stats.issuers = Object.fromEntries(runtimes.map((runtime) => [runtime.issuer, issuerStats(runtime)]));
    if (anomaly !== undefined) stats.anomaly = { detected: anomaly.detected, evicted: anomaly.evicted };
    return stats;
  }

  async close(): Promise<void> {
    if (this.shut) return;
    this.shut = true;
    if (this.parts.one !== undefined) await closeIssuer(this.parts.one);
    await this.parts.router?.close();
    await this.parts.denylist.close();
    for (const receiver of this.transmitters) receiver.close();
    if (this.parts.ownsHttp) await this.parts.http.close?.();
  }

  /** The issuers held: the single one, or the router's. */
  private runtimes(): IssuerRuntime[] {
    return this.parts.one !== undefined ? [this.parts.one] : this.parts.router!.runtimes();
  }

  /** A part that exists with a single issuer only, or the `TypeError` of a guard with several. */
  private single<T>(part: T | undefined, what: string): T {
    if (part === undefined) throw new TypeError(`tokengate: ${what} works with a guard of a single issuer; build one guard per issuer for it`);
    return part;
  }

  /** The backend sessions, or the `TypeError` of a guard without them. */
  private sessions(): BackendSessions {
    const sessions = this.parts.backendSessions;
    if (sessions === undefined) throw new TypeError('tokengate: backend sessions need the "backendSessions" option');
    return sessions;
  }

  /** Runs a step off the request path, adding the challenge to what it rejects with (a synchronous throw included). */
  private async guarded<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      throw this.challenge(error);
    }
  }

  /** Counts a request's refusal by its code (or an error that is not one), then adds the challenge. */
  private refuse(error: unknown, request?: RequestLike, policy?: Policy): unknown {
    if (error instanceof AuthError) this.refused.set(error.code, (this.refused.get(error.code) ?? 0) + 1);
    else this.errors++;
    return this.challenge(error, request, policy);
  }

  /**
   * Adds the realm's `WWW-Authenticate` challenge to an {@link AuthError}; other errors pass
   * unchanged. Where the route accepts DPoP (the `policy`'s `dpop`, `'allowed'` by default), the
   * `DPoP` challenge is offered too, carrying the error when the request used that scheme.
   */
  private challenge(error: unknown, request?: RequestLike, policy?: Policy): unknown {
    if (error instanceof AuthError) {
      const mode = this.parts.pipeline.challengeMode(policy);
      if (mode !== 'off') {
        const bearer = mode === 'allowed';
        error.dpop = { algs: this.parts.dpopAlgs, bearer, errorInDpop: !bearer || error instanceof DpopProofError || (request !== undefined && usesDpopScheme(request)) };
      }
      const value = error.challenge(this.realm);
      if (value !== '') error.headers = { ...error.headers, 'WWW-Authenticate': value };
    }
    return error;
  }
}
