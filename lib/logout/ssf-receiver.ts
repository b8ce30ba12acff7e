import { SecurityEventError } from '../errors';
import { emit } from '../events';
import type { Algorithm } from '../jose/algorithms';
import { Discovery, ssfConfigurationUrl } from '../issuer/discovery';
import { KeySet } from '../issuer/key-set';
import type { StreamStatus } from '../liveness/push-state';
import { sameSecret } from '../util/secret';
import { applyRevocation, recordApplied, type PushContext } from './push';
import { verifySecurityEventToken, type SetExpectations, type VerifiedSet } from './set-token';
import { subjectOf, targetOf } from './subjects';

/** The event types the SSF receiver handles; any other is refused (`invalid_request`). */
export const SSF_EVENT_TYPES = {
  sessionRevoked: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  credentialChange: 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
  streamUpdated: 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated',
} as const;

/** A CAEP credential-change event, as the `credentialChange` option's function sees it. */
export interface CredentialChange {
  /** `password`, `fido2-roaming`, ... (Okta also sends its factor names). */
  credentialType: string | undefined;
  /** `create`, `revoke`, `update` or `delete`. */
  changeType: string | undefined;
  /** The subject, as the SET names it. */
  subject: Readonly<Record<string, unknown>>;
}

/** Options of `ssfReceiver(guard, options)`. Durations in seconds, sizes in bytes. */
export interface SsfReceiverOptions {
  /** This receiver, as the transmitter names it in `aud` (the stream's `aud`). Required. */
  audience: string | readonly string[];
  /** The transmitter's issuer, the SETs' `iss`. Default: the guard issuer's origin (Okta's transmitter is the org URL). */
  transmitter?: string;
  /** The transmitter's JWKS URL. Default: `jwks_uri` from `{transmitter}/.well-known/ssf-configuration`. */
  jwksUri?: string;
  /** Accepted SET signing algorithms. Default `['RS256']` (what Okta signs with). */
  algorithms?: readonly Algorithm[];
  /** Oldest SET accepted, by its `iat`, in seconds. Default 300. */
  maxAge?: number;
  /** Largest request body, in bytes. Default 65536. */
  maxBytes?: number;
  /**
   * The `Authorization` header every delivery must carry (the stream's `delivery.authorization_header`),
   * compared in constant time. Default: none required (the SET signature authenticates the transmitter).
   */
  authorization?: string;
  /**
   * What a CAEP credential-change does: `'revoke'` (default) refuses the user's tokens issued before
   * it, on every instance; `'ignore'` acknowledges it; a function decides per event (`true` revokes)
   * and may be called more than once for one event (deliveries are at least once).
   */
  credentialChange?: 'revoke' | 'ignore' | ((change: CredentialChange) => boolean);
}

/** Validated receiver options. Internal. */
export interface ResolvedSsfReceiver {
  audiences: ReadonlySet<string>;
  transmitter: string;
  jwksUri: string | undefined;
  algorithms: ReadonlySet<Algorithm>;
  maxAge: number;
  maxBytes: number;
  authorization: string | undefined;
  credentialChange: 'revoke' | 'ignore' | ((change: CredentialChange) => boolean);
}

/** How long a SET's `jti` is remembered past `iat` + `maxAge` + `clockTolerance`, seconds. */
const REPLAY_MARGIN = 600;
/** An `event_timestamp` above this is in milliseconds (Okta's transmitter sends them so); in seconds it would be in the year 5138. */
const MILLISECONDS_FROM = 1e11;
const STREAM_STATUSES: readonly StreamStatus[] = ['enabled', 'paused', 'disabled'];

/** A SET the receiver took: what it did. */
export type ReceivedOutcome = 'applied' | 'duplicate' | 'ignored';

/**
 * An OpenID Shared Signals (SSF 1.0) receiver for RFC 8935 push delivery: verifies each Security
 * Event Token against the transmitter (its keys from `jwks_uri`, through the guard's HTTP client and
 * `keySet` limits) and turns CAEP events into denylist entries on every instance. Built once per
 * mounted route (it counts itself in for `sessions.pushed`).
 *
 * - session-revoked: the session (`sid` entries), or when only a user is named, the user's tokens
 *   issued before `event_timestamp` (see {@link targetOf}); credential-change: as `credentialChange` says.
 * - verification: acknowledged (its `state` is not checked: this receiver asks for none);
 *   stream-updated: acknowledged, and a stream `paused` or `disabled` holds `sessions.pushed` back.
 * - A SET applied before (by its `jti`, recorded here and through the store's `claimOnce`) is
 *   acknowledged without effect; applying it again would change nothing either, since every entry
 *   is dated by the event, not by its arrival.
 * @see https://www.rfc-editor.org/rfc/rfc8935
 * @see https://openid.net/specs/openid-caep-1_0.html
 */
export class SsfReceiver {
  private readonly keys: KeySet;
  private readonly expect: SetExpectations;

  constructor(
    readonly options: ResolvedSsfReceiver,
    private readonly context: PushContext,
  ) {
    const limits = context.keySetLimits;
    const discovery = new Discovery(options.transmitter, context.http, { timeout: limits.timeout, maxBytes: limits.maxBytes }, [ssfConfigurationUrl(options.transmitter)]);
    this.keys = new KeySet({ jwksUri: options.jwksUri, algorithms: options.algorithms, limits, clock: context.clock, onEvent: context.onEvent }, context.http, discovery, () => undefined);
    this.expect = { issuer: options.transmitter, audiences: options.audiences, algorithms: options.algorithms, clockTolerance: context.clockTolerance, maxAge: options.maxAge, clock: context.clock, keys: this.keys };
    context.push.mounted();
  }

  /**
   * Receives one SET (the request body) with the request's `Authorization` header. Resolves with
   * what it did; rejects with {@link SecurityEventError} (its RFC 8935 code), or a 503 AuthError when
   * the transmitter's keys cannot be had or the shared store did not take an entry.
   */
  async receive(token: string, authorization: string | undefined): Promise<ReceivedOutcome> {
    if (this.options.authorization !== undefined && !sameSecret(authorization, this.options.authorization)) {
      throw new SecurityEventError('authentication_failed', 'The delivery does not carry the stream\'s Authorization header');
    }
    const set = await verifySecurityEventToken(token, this.expect);
    const id = `set:${set.claims.jti}`;
    let outcome: ReceivedOutcome;
    if (this.context.denylist.claimedHere(id)) {
      outcome = 'duplicate';
    } else {
      outcome = await this.handle(set);
      const until = (set.claims.iat + this.options.maxAge + this.context.clockTolerance + REPLAY_MARGIN) * 1000;
      if (!(await recordApplied(this.context.denylist, id, until)) && outcome === 'applied') outcome = 'duplicate';
    }
    emit(this.context.onEvent, { type: 'push.received', receiver: 'ssf', event: set.type, outcome });
    return outcome;
  }

  /** Reports a refused request (`push.refused`). */
  refused(status: number, message: string, err?: string): void {
    emit(this.context.onEvent, { type: 'push.refused', receiver: 'ssf', status, err, message });
  }

  /** Stops fetching the transmitter's keys (the guard is closing). */
  close(): void {
    this.keys.close();
  }

  private async handle({ claims, type, event }: VerifiedSet): Promise<ReceivedOutcome> {
    const subjects = { issuer: this.context.issuer, transmitter: this.options.transmitter };
    switch (type) {
      case SSF_EVENT_TYPES.verification:
        return 'ignored';
      case SSF_EVENT_TYPES.streamUpdated: {
        const status = event.status as StreamStatus;
        if (!STREAM_STATUSES.includes(status)) throw new SecurityEventError('invalid_request', 'The stream-updated event has no valid "status"');
        this.context.push.streamStatus(status);
        return 'ignored';
      }
      case SSF_EVENT_TYPES.sessionRevoked: {
        const target = targetOf(subjectOf(claims, event), 'session', subjects);
        await applyRevocation(this.context, target, this.happenedAt(claims.iat, event));
        return 'applied';
      }
      case SSF_EVENT_TYPES.credentialChange: {
        const subject = subjectOf(claims, event);
        const target = targetOf(subject, 'user', subjects);
        const decide = this.options.credentialChange;
        const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
        const revoke = decide === 'revoke' || (typeof decide === 'function' && decide({ credentialType: text(event.credential_type), changeType: text(event.change_type), subject }) === true);
        if (!revoke) return 'ignored';
        await applyRevocation(this.context, target, this.happenedAt(claims.iat, event));
        return 'applied';
      }
      default:
        throw new SecurityEventError('invalid_request', `This receiver does not handle events of type "${type.slice(0, 120)}"`);
    }
  }

  /** When the event happened, ms: its `event_timestamp` (seconds, or milliseconds as Okta sends it), else the SET's `iat`; never later than now. */
  private happenedAt(iat: number, event: Readonly<Record<string, unknown>>): number {
    const stamp = event.event_timestamp;
    const at = typeof stamp === 'number' && Number.isFinite(stamp) && stamp > 0 ? (stamp >= MILLISECONDS_FROM ? stamp : stamp * 1000) : iat * 1000;
    return Math.min(at, this.context.clock());
  }
}
