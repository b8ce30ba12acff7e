import { EventHookError } from '../errors';
import { emit } from '../events';
import { sameSecret } from '../util/secret';
import { applyRevocation, recordApplied, type PushContext } from './push';
import type { RevocationTarget } from './subjects';

/** Options of `oktaEventHook(guard, options)`. */
export interface OktaEventHookOptions {
  /** The secret registered with the event hook, which Okta sends in `header` with every request. Required. */
  secret: string;
  /** The header carrying it (`channel.config.authScheme.key` of the hook). Default `'authorization'`. */
  header?: string;
  /** Largest request body, in bytes. Default 1048576 (1 MiB): Okta delivers events in batches. */
  maxBytes?: number;
}

/** Validated options. Internal. */
export interface ResolvedEventHook {
  secret: string;
  /** Lower-case. */
  header: string;
  maxBytes: number;
}

/** The Okta events the receiver acts on; any other in a batch is acknowledged and ignored. */
export const OKTA_EVENT_TYPES = {
  sessionEnd: 'user.session.end',
  user: ['user.lifecycle.deactivate', 'user.lifecycle.suspend', 'user.account.lock'],
} as const;

/** How long an event's `uuid` is remembered as applied, ms: Okta redelivers within seconds to minutes. */
const REMEMBER = 86_400_000;
/** An Okta verification challenge: printable, without quotes or backslashes, at most 256 characters. */
const CHALLENGE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;

/** One Okta System Log event of a delivery, checked. */
interface HookEvent {
  uuid: string;
  eventType: string;
  /** When it happened, ms. */
  published: number;
  raw: Record<string, unknown>;
}

/** What one delivery did, event by event. */
export interface HookDelivery {
  applied: number;
  duplicates: number;
  ignored: number;
}

const record = (value: unknown): Record<string, unknown> | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

/**
 * Receives Okta Event Hooks: the one-time verification `GET` and the `POST` deliveries, each
 * authenticated by the secret header (compared in constant time). `user.session.end` denylists that
 * session (`authenticationContext.externalSessionId`); `user.lifecycle.deactivate`, `suspend` and
 * `user.account.lock` the user's tokens issued before the event (its `target` users, by id and by
 * login). Events whose `outcome.result` is not `SUCCESS` are ignored. Delivery is at least once: an
 * event applied before (by its `uuid`) changes nothing, and every entry is dated by the event's
 * `published`, so applying one twice would not either.
 *
 * Does NOT check the delivery's `source` or `eventTime`: the secret is what authenticates Okta.
 * @see https://developer.okta.com/docs/concepts/event-hooks/
 */
export class OktaEventHookReceiver {
  constructor(
    readonly options: ResolvedEventHook,
    private readonly context: PushContext,
  ) {
    context.push.mounted();
  }

  /** Throws a 401 {@link EventHookError} unless the request carries the secret header. */
  authenticate(headers: Readonly<Record<string, string | string[] | undefined>>): void {
    const value = headers[this.options.header];
    if (!sameSecret(typeof value === 'string' ? value : undefined, this.options.secret)) {
      throw new EventHookError(401, `The request does not carry the event hook's secret in "${this.options.header}"`);
    }
  }

  /** The answer to the one-time verification request: the `X-Okta-Verification-Challenge` value echoed. Throws 400 without a usable one. */
  verification(headers: Readonly<Record<string, string | string[] | undefined>>): { verification: string } {
    const challenge = headers['x-okta-verification-challenge'];
    if (typeof challenge !== 'string' || !CHALLENGE.test(challenge)) throw new EventHookError(400, 'The verification request has no usable X-Okta-Verification-Challenge header');
    return { verification: challenge };
  }

  /**
   * Applies one delivery (`{ data: { events: [...] } }`), every event checked before any is applied.
   * Rejects with a 400 {@link EventHookError} for a body that is not one, or a 503 AuthError when the
   * shared store did not take an entry (Okta then delivers it again).
   */
  async receive(body: unknown): Promise<HookDelivery> {
    const events = this.events(body);
    const delivery: HookDelivery = { applied: 0, duplicates: 0, ignored: 0 };
    for (const event of events) {
      const id = `okta-hook:${event.uuid}`;
      let outcome: 'applied' | 'duplicate' | 'ignored';
      if (this.context.denylist.claimedHere(id)) {
        outcome = 'duplicate';
      } else {
        const targets = this.targetsOf(event);
        for (const target of targets) await applyRevocation(this.context, target, event.published);
        outcome = targets.length === 0 ? 'ignored' : 'applied';
        if (!(await recordApplied(this.context.denylist, id, this.context.clock() + REMEMBER)) && outcome === 'applied') outcome = 'duplicate';
      }
      delivery[outcome === 'applied' ? 'applied' : outcome === 'duplicate' ? 'duplicates' : 'ignored']++;
      emit(this.context.onEvent, { type: 'push.received', receiver: 'event-hook', event: event.eventType, outcome });
    }
    return delivery;
  }

  /** Reports a refused request (`push.refused`). */
  refused(status: number, message: string): void {
    emit(this.context.onEvent, { type: 'push.refused', receiver: 'event-hook', status, message });
  }

  /** The events of a delivery, each with a `uuid`, an `eventType` and a `published` time; a 400 otherwise. */
  private events(body: unknown): HookEvent[] {
    const list = record(record(body)?.data)?.events;
    if (!Array.isArray(list)) throw new EventHookError(400, 'The body is not an event hook delivery: it has no "data.events" array');
    return list.map((value, index) => {
      const raw = record(value);
      const published = typeof raw?.published === 'string' ? Date.parse(raw.published) : NaN;
      if (raw === undefined || typeof raw.uuid !== 'string' || raw.uuid === '' || raw.uuid.length > 256 || typeof raw.eventType !== 'string' || !Number.isFinite(published)) {
        throw new EventHookError(400, `Event ${index} of the delivery has no "uuid", "eventType" or "published" time`);
      }
      return { uuid: raw.uuid, eventType: raw.eventType, published: Math.min(published, this.context.clock()), raw };
    });
  }

  /** What an event revokes: nothing for an event type or outcome the receiver does not act on. */
  private targetsOf(event: HookEvent): RevocationTarget[] {
    const result = record(event.raw.outcome)?.result;
    if (result !== undefined && result !== 'SUCCESS') return [];
    if (event.eventType === OKTA_EVENT_TYPES.sessionEnd) {
      const sid = record(event.raw.authenticationContext)?.externalSessionId;
      return typeof sid === 'string' && sid !== '' && sid !== 'unknown' && sid.length <= 256 ? [{ kind: 'sid', value: sid }] : [];
    }
    if (!(OKTA_EVENT_TYPES.user as readonly string[]).includes(event.eventType)) return [];
    const targets: RevocationTarget[] = [];
    for (const target of Array.isArray(event.raw.target) ? event.raw.target : []) {
      const user = record(target);
      if (user?.type !== 'User') continue;
      for (const name of ['id', 'alternateId']) {
        const value = user[name];
        if (typeof value === 'string' && value !== '' && value.length <= 1024) targets.push({ kind: 'sub', value });
      }
    }
    return targets;
  }
}
