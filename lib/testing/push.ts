import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { EventHooks, type MockEventHook, type MockEventHookOptions, type MockUser, type OutgoingHook } from './model/event-hooks';
import type { ModelRequest, ModelResponse } from './model/http';
import type { KeyRing } from './model/keys';
import { Transmitter, type MockStream, type MockStreamOptions, type OutgoingSet } from './model/transmitter';

export type { MockEventHook, MockEventHookOptions, MockStream, MockStreamOptions, MockUser };

/** One attempt to push to a receiver, as {@link MockPush.deliveries} records it. */
export interface PushDelivery {
  kind: 'ssf' | 'event-hook';
  url: string;
  /** The event type: a CAEP/SSF URI, or an Okta event type. */
  event: string;
  /** 1, or 2 for Okta's one retry. */
  attempt: number;
  /** The receiver's status; absent when the request failed. */
  status?: number;
  /** Why the request failed (network, timeout). */
  error?: string;
}

/** A request about to go out to a receiver. */
interface Outgoing {
  kind: PushDelivery['kind'];
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: string;
  event: string;
}

/** Okta's deadline for a receiver's answer, ms. */
const TIMEOUT = 3000;

/**
 * What the mocked Okta pushes to receivers, over real HTTP (a test's app listening on 127.0.0.1,
 * which `nock.enableNetConnect('127.0.0.1')` lets through): SETs on SSF streams (RFC 8935) and Event
 * Hook deliveries. `okta.endSession(id)` pushes session-revoked and `user.session.end`. Deliveries
 * go out in the background; `await okta.push.settle()` before asserting their effect. A delivery
 * answered 5xx, or not at all within 3 s, is retried once (as Okta does), a 4xx never.
 *
 * To test at-least-once delivery and lost pushes: {@link MockPush.pause} holds deliveries,
 * {@link MockPush.drop} loses them, {@link MockPush.delay} slows them, {@link MockPush.duplicate}
 * sends each several times.
 */
export class MockPush {
  /** Every attempt made, oldest first (at most 1000). */
  readonly deliveries: PushDelivery[] = [];
  /** Wait before Okta's one retry, ms. Default 100. */
  retryDelay = 100;
  private readonly transmitter: Transmitter;
  private readonly hooks: EventHooks;
  private readonly users = new Map<string, MockUser>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly sleeping = new Map<NodeJS.Timeout, () => void>();
  private queued: Outgoing[] = [];
  private paused = false;
  private delayMs = 0;
  private copies = 1;
  private closed = false;

  constructor(context: { orgUrl: string; keys: KeyRing; apiToken: string; clock: () => number }) {
    this.transmitter = new Transmitter({ ...context, send: (set) => this.sendSet(set) });
    this.hooks = new EventHooks({ ...context, send: (delivery) => this.sendHook(delivery) });
  }

  /** Registers an SSF stream, as `POST /api/v1/ssf/stream` does: SETs go to `url`, with `aud` = `audience` (default `url`). */
  stream(options: MockStreamOptions): MockStream {
    return this.transmitter.add(options);
  }

  /** Registers an Okta Event Hook: deliveries go to `url`, with the secret in `header` (default `Authorization`). */
  eventHook(options: MockEventHookOptions): MockEventHook {
    return this.hooks.add(options);
  }

  /** Unregisters a stream or a hook. */
  remove(target: MockStream | MockEventHook): void {
    if ('streamId' in target) this.transmitter.remove(target);
    else this.hooks.remove(target);
  }

  /** Okta's one-time verification of a hook: a `GET` with `X-Okta-Verification-Challenge`; resolves whether the answer echoed it. */
  async verifyEventHook(hook: MockEventHook): Promise<boolean> {
    const challenge = randomBytes(16).toString('base64url');
    const answer = await exchange({ kind: 'event-hook', url: hook.url, method: 'GET', headers: { [hook.header]: hook.secret, 'x-okta-verification-challenge': challenge, accept: 'application/json' }, body: '', event: 'verification' });
    try {
      return answer.status === 200 && (JSON.parse(answer.body) as { verification?: unknown }).verification === challenge;
    } catch {
      return false;
    }
  }

  /** Pushes an SSF verification SET on a stream (what `POST /api/v1/ssf/stream/verification` does). */
  verifyStream(stream: MockStream, state?: string): void {
    this.transmitter.verify(stream, state);
  }

  /** Delivers an Okta user event (`user.lifecycle.deactivate`, `user.lifecycle.suspend`, `user.account.lock`...) to the event hooks. */
  userEvent(eventType: string, user: MockUser): void {
    this.hooks.emit(eventType, user);
  }

  /** Pushes a CAEP credential-change for a user (a password reset, unless `change` says otherwise) on the SSF streams. */
  credentialChange(userId: string, change?: { credentialType?: string; changeType?: string }): void {
    this.transmitter.credentialChange(userId, change);
  }

  /** A SET signed by the transmitter (`typ: secevent+jwt`, `iss` the org, fresh `jti`, `iat` now): for tests that craft their own. */
  securityEventToken(claims: Record<string, unknown>, header?: Record<string, unknown>): string {
    return this.transmitter.securityEventToken(claims, header);
  }

  /** Holds every delivery from now on (a receiver Okta cannot reach) until {@link MockPush.resume} or {@link MockPush.drop}. */
  pause(): void {
    this.paused = true;
  }

  /** Sends what was held, and what comes next, at once. */
  resume(): void {
    this.paused = false;
    const held = this.queued;
    this.queued = [];
    for (const outgoing of held) this.dispatch(outgoing);
  }

  /** Loses every held delivery (lost pushes: only polling can notice those ends now); returns how many. */
  drop(): number {
    const lost = this.queued.length;
    this.queued = [];
    return lost;
  }

  /** Waits `ms` before each delivery from now on (0: none). */
  delay(ms: number): void {
    this.delayMs = ms;
  }

  /** Sends each delivery `times` times from now on (at-least-once delivery); 1 sends each once. */
  duplicate(times = 2): void {
    if (!Number.isInteger(times) || times < 1) throw new TypeError('mockOkta: push.duplicate() takes a whole number of at least 1');
    this.copies = times;
  }

  /** Resolves once every delivery under way (delays and retries included) has been answered; held ones are not waited for. */
  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  /** Stops pushing: held and delayed deliveries are dropped. */
  close(): void {
    this.closed = true;
    this.queued = [];
    for (const [timer, wake] of this.sleeping) {
      clearTimeout(timer);
      wake();
    }
    this.sleeping.clear();
  }

  /** Which transmitter operation a request to the org is (see {@link Transmitter.route}). */
  route(method: string, path: string): string | undefined {
    return this.transmitter.route(method, path);
  }

  /** Answers a request to the transmitter. */
  answer(request: ModelRequest, operation: string): ModelResponse {
    return this.transmitter.answer(request, operation);
  }

  /** Remembers whose a session is, for the pushes its end makes. */
  track(session: { id: string; userId: string; login: string }): void {
    this.users.set(session.id, { userId: session.userId, login: session.login });
  }

  /** A session ended: session-revoked on the streams, `user.session.end` to the hooks. */
  sessionEnded(id: string): void {
    const user = this.users.get(id);
    if (user === undefined) return;
    this.users.delete(id);
    this.transmitter.sessionRevoked({ id, userId: user.userId });
    this.hooks.emit('user.session.end', user, id);
  }

  private sendSet({ stream, event, token }: OutgoingSet): void {
    const headers: Record<string, string> = { 'content-type': 'application/secevent+jwt', accept: 'application/json' };
    if (stream.authorizationHeader !== undefined) headers.authorization = stream.authorizationHeader;
    this.send({ kind: 'ssf', url: stream.url, method: 'POST', headers, body: token, event });
  }

  private sendHook({ hook, event, body }: OutgoingHook): void {
    this.send({ kind: 'event-hook', url: hook.url, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', [hook.header]: hook.secret }, body, event });
  }

  private send(outgoing: Outgoing): void {
    if (this.closed) return;
    for (let i = 0; i < this.copies; i++) {
      if (this.paused) this.queued.push(outgoing);
      else this.dispatch(outgoing);
    }
  }

  /** One delivery in the background, after the delay, with Okta's one retry. */
  private dispatch(outgoing: Outgoing): void {
    const run = async (): Promise<void> => {
      if (this.delayMs > 0) await this.sleep(this.delayMs);
      for (let attempt = 1; attempt <= 2 && !this.closed; attempt++) {
        const answer = await exchange(outgoing);
        this.record({ kind: outgoing.kind, url: outgoing.url, event: outgoing.event, attempt, ...(answer.error === undefined ? { status: answer.status } : { error: answer.error }) });
        if (answer.error === undefined && answer.status < 500) return;
        if (attempt === 1) await this.sleep(this.retryDelay);
      }
    };
    const done: Promise<void> = run().finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      this.sleeping.set(timer, resolve);
    });
  }

  private record(delivery: PushDelivery): void {
    this.deliveries.push(delivery);
    if (this.deliveries.length > 1000) this.deliveries.shift();
  }
}

/** One HTTP exchange with a receiver: its status and body, or why it failed. Never rejects. */
function exchange(outgoing: Outgoing): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const url = new URL(outgoing.url);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method: outgoing.method, headers: { ...outgoing.headers, 'content-length': String(Buffer.byteLength(outgoing.body)) }, timeout: TIMEOUT }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => resolve({ status: 0, body: '', error: error.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT} ms`)));
    req.on('error', (error) => resolve({ status: 0, body: '', error: error.message }));
    req.end(outgoing.body);
  });
}
