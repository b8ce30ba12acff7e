import { randomBytes, randomUUID } from 'node:crypto';

/** An Okta Event Hook registered with the mocked Okta. */
export interface MockEventHook {
  readonly id: string;
  /** Where deliveries are POSTed (`channel.config.uri`). */
  readonly url: string;
  /** Sent in `header` with every request. */
  readonly secret: string;
  /** Lower-case. Default `authorization`. */
  readonly header: string;
  /** Okta event types delivered. */
  readonly events: ReadonlySet<string>;
}

/** Options of {@link MockPush.eventHook}. */
export interface MockEventHookOptions {
  url: string;
  secret: string;
  header?: string;
  /** Default: `user.session.end`, `user.lifecycle.deactivate`, `user.lifecycle.suspend`, `user.account.lock`. */
  events?: readonly string[];
}

/** An Okta user, as System Log events name one. */
export interface MockUser {
  userId: string;
  login: string;
}

/** One event hook delivery on its way. */
export interface OutgoingHook {
  hook: MockEventHook;
  event: string;
  /** The JSON body. */
  body: string;
}

const DEFAULT_EVENTS = ['user.session.end', 'user.lifecycle.deactivate', 'user.lifecycle.suspend', 'user.account.lock'];

/**
 * The org's event hooks and the deliveries Okta makes to them: one System Log event (`LogEvent`) per
 * delivery, in `data.events`, as Okta's event hook requests carry them.
 * @see https://developer.okta.com/docs/concepts/event-hooks/
 */
export class EventHooks {
  private readonly hooks = new Map<string, MockEventHook>();

  constructor(
    private readonly context: { orgUrl: string; clock: () => number; send: (delivery: OutgoingHook) => void },
  ) {}

  /** Registers a hook (verified or not: the mock delivers to it either way). */
  add(options: MockEventHookOptions): MockEventHook {
    const hook: MockEventHook = {
      id: `who${randomBytes(8).toString('hex')}`,
      url: options.url,
      secret: options.secret,
      header: (options.header ?? 'authorization').toLowerCase(),
      events: new Set(options.events ?? DEFAULT_EVENTS),
    };
    this.hooks.set(hook.id, hook);
    return hook;
  }

  /** Removes a hook. */
  remove(hook: MockEventHook): void {
    this.hooks.delete(hook.id);
  }

  /**
   * Delivers one Okta event to every hook subscribed to its type: `user.session.end` names the
   * session (`authenticationContext.externalSessionId`) with the user as actor; the user lifecycle
   * events name the user as target, an admin as actor.
   */
  emit(eventType: string, user: MockUser, sessionId?: string): void {
    const published = new Date(this.context.clock()).toISOString();
    const person = { id: user.userId, type: 'User', alternateId: user.login, displayName: user.login };
    const logEvent: Record<string, unknown> = {
      uuid: randomUUID(),
      published,
      eventType,
      version: '0',
      severity: 'INFO',
      displayMessage: eventType,
      actor: eventType === 'user.session.end' ? person : { id: '00uadmin0000000000000', type: 'User', alternateId: 'admin@example.com', displayName: 'Admin' },
      client: { ipAddress: '127.0.0.1', zone: 'null', device: 'Computer' },
      outcome: { result: 'SUCCESS' },
      target: eventType === 'user.session.end' ? [] : [person],
      transaction: { type: 'WEB', id: randomBytes(12).toString('base64url') },
      authenticationContext: { authenticationStep: 0, externalSessionId: sessionId ?? 'unknown' },
    };
    for (const hook of this.hooks.values()) {
      if (!hook.events.has(eventType)) continue;
      const body = {
        eventType: 'com.okta.event_hook',
        eventTypeVersion: '1.0',
        cloudEventsVersion: '0.1',
        contentType: 'application/json',
        eventId: randomUUID(),
        eventTime: published,
        source: `${this.context.orgUrl}/api/v1/eventHooks/${hook.id}`,
        data: { events: [logEvent] },
      };
      this.context.send({ hook, event: eventType, body: JSON.stringify(body) });
    }
  }
}
