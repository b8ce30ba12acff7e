import { randomBytes, randomUUID } from 'node:crypto';
import { json, type ModelRequest, type ModelResponse } from './http';
import { signCompact, type KeyRing } from './keys';

/** CAEP and SSF event type URIs the transmitter sends. */
export const SET_EVENTS = {
  sessionRevoked: 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  credentialChange: 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  verification: 'https://schemas.openid.net/secevent/ssf/event-type/verification',
} as const;

const PUSH_METHOD = 'urn:ietf:rfc:8935';

/** A stream the mocked Okta pushes SETs on (RFC 8935 push delivery). */
export interface MockStream {
  readonly streamId: string;
  /** Where SETs are POSTed (`delivery.endpoint_url`). */
  readonly url: string;
  /** The `aud` of its SETs: the receiver's URL unless given. */
  readonly audience: string;
  /** Sent as `Authorization` with every delivery (`delivery.authorization_header`), when set. */
  readonly authorizationHeader: string | undefined;
  /** Event types delivered. */
  readonly events: ReadonlySet<string>;
  /**
   * How session-revoked names its subject: `'okta'` as Okta's transmitter documents it (the user
   * only, `iss_sub` of the org and the user id, inside the event, `event_timestamp` in ms), or
   * `'ssf'` as SSF 1.0 does (a top-level `sub_id`, complex, with the session and the user; seconds).
   */
  readonly shape: 'okta' | 'ssf';
}

/** Options of {@link MockPush.stream} (the fields of an SSF create-stream request). */
export interface MockStreamOptions {
  url: string;
  audience?: string;
  authorizationHeader?: string;
  /** Event type URIs; default session-revoked and credential-change (what Okta's transmitter supports). */
  events?: readonly string[];
  shape?: 'okta' | 'ssf';
}

/** One SET on its way to a stream's receiver. */
export interface OutgoingSet {
  stream: MockStream;
  event: string;
  token: string;
}

/** What the transmitter needs of the model. */
export interface TransmitterContext {
  orgUrl: string;
  /** The org authorization server's keys: the transmitter signs with them. */
  keys: KeyRing;
  apiToken: string;
  clock: () => number;
  /** Hands a SET to the push channel. */
  send: (set: OutgoingSet) => void;
}

/**
 * Okta's SSF transmitter: its configuration at `{org}/.well-known/ssf-configuration`, its keys
 * (the org authorization server's, at `{org}/oauth2/v1/keys`), and the stream management API
 * (`POST` and `GET /api/v1/ssf/stream`, `POST /api/v1/ssf/stream/verification`, with the `SSWS`
 * API token). SETs are signed with `typ: secevent+jwt`.
 * @see https://openid.net/specs/openid-sharedsignals-framework-1_0.html
 * @see https://developer.okta.com/docs/api/openapi/okta-management/management/tag/SSFTransmitter/
 */
export class Transmitter {
  private readonly streams = new Map<string, MockStream>();

  constructor(private readonly context: TransmitterContext) {}

  /** Which transmitter operation a request is, or `undefined`. `keys`: only when no authorization server of the model serves that path. */
  route(method: string, path: string): string | undefined {
    if (method === 'GET' && path === '/.well-known/ssf-configuration') return 'configuration';
    if (method === 'GET' && path === '/oauth2/v1/keys') return 'keys';
    if ((method === 'GET' || method === 'POST') && path === '/api/v1/ssf/stream') return 'stream';
    if (method === 'POST' && path === '/api/v1/ssf/stream/verification') return 'verification';
    return undefined;
  }

  /** The transmitter configuration metadata. */
  configuration(): Record<string, unknown> {
    const org = this.context.orgUrl;
    return {
      spec_version: '1_0',
      issuer: org,
      jwks_uri: `${org}/oauth2/v1/keys`,
      delivery_methods_supported: [PUSH_METHOD],
      configuration_endpoint: `${org}/api/v1/ssf/stream`,
      status_endpoint: `${org}/api/v1/ssf/stream/status`,
      verification_endpoint: `${org}/api/v1/ssf/stream/verification`,
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    };
  }

  /** Answers one request to the transmitter. */
  answer(request: ModelRequest, operation: string): ModelResponse {
    if (operation === 'configuration') return json(200, this.configuration());
    if (operation === 'keys') return json(200, this.context.keys.jwks(), { 'cache-control': 'max-age=3600, must-revalidate' });
    if (request.headers.authorization !== `SSWS ${this.context.apiToken}`) return json(401, { errorCode: 'E0000011', errorSummary: 'Invalid token provided' });
    if (operation === 'stream' && request.method === 'GET') return json(200, [...this.streams.values()].map((stream) => this.describe(stream)));
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(request.body) as Record<string, unknown>;
    } catch {
      return json(400, { errorCode: 'E0000003', errorSummary: 'The request body was not well-formed.' });
    }
    if (operation === 'verification') {
      const stream = this.streams.get(String(body.stream_id));
      if (stream === undefined) return json(404, { errorCode: 'E0000007', errorSummary: 'Not found: Resource not found (SSF stream)' });
      this.verify(stream, typeof body.state === 'string' ? body.state : undefined);
      return { status: 204, headers: {}, body: '' };
    }
    const delivery = (body.delivery ?? {}) as Record<string, unknown>;
    if (delivery.method !== PUSH_METHOD || typeof delivery.endpoint_url !== 'string') {
      return json(400, { errorCode: 'E0000001', errorSummary: `Api validation failed: delivery.method must be ${PUSH_METHOD} with an endpoint_url` });
    }
    const events = Array.isArray(body.events_requested) ? body.events_requested.filter((e): e is string => typeof e === 'string') : undefined;
    const auth = typeof delivery.authorization_header === 'string' ? delivery.authorization_header : undefined;
    return json(201, this.describe(this.add({ url: delivery.endpoint_url, authorizationHeader: auth, events })));
  }

  /** Registers a stream. */
  add(options: MockStreamOptions): MockStream {
    const supported = [SET_EVENTS.sessionRevoked, SET_EVENTS.credentialChange] as string[];
    const stream: MockStream = {
      streamId: randomBytes(12).toString('hex'),
      url: options.url,
      audience: options.audience ?? options.url,
      authorizationHeader: options.authorizationHeader,
      events: new Set((options.events ?? supported).filter((e) => supported.includes(e))),
      shape: options.shape ?? 'okta',
    };
    this.streams.set(stream.streamId, stream);
    return stream;
  }

  /** Removes a stream: nothing is pushed on it any more. */
  remove(stream: MockStream): void {
    this.streams.delete(stream.streamId);
  }

  /**
   * A SET signed with the transmitter's newest key: `iss` the org, a fresh `jti`, `iat` now, `aud`
   * as given; `claims` and `header` override or, with `undefined`, remove anything.
   */
  securityEventToken(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
    const key = this.context.keys.newest();
    const payload = strip({ iss: this.context.orgUrl, jti: randomUUID(), iat: Math.floor(this.context.clock() / 1000), ...claims });
    return signCompact(strip({ kid: key.kid, alg: key.alg, typ: 'secevent+jwt', ...header }), payload, key.alg, key.privateKey);
  }

  /** Pushes session-revoked for a session that ended, on every stream that delivers it. */
  sessionRevoked(session: { id: string; userId: string }): void {
    const now = this.context.clock();
    const user = { format: 'iss_sub', iss: this.context.orgUrl, sub: session.userId };
    for (const stream of this.streams.values()) {
      if (!stream.events.has(SET_EVENTS.sessionRevoked)) continue;
      const claims =
        stream.shape === 'okta'
          ? { events: { [SET_EVENTS.sessionRevoked]: { subject: { user }, reason_admin: { en: 'User session ended' }, event_timestamp: now } } }
          : { sub_id: { format: 'complex', session: { format: 'opaque', id: session.id }, user }, events: { [SET_EVENTS.sessionRevoked]: { event_timestamp: Math.floor(now / 1000) } } };
      this.context.send({ stream, event: SET_EVENTS.sessionRevoked, token: this.securityEventToken({ aud: stream.audience, ...claims }) });
    }
  }

  /** Pushes a credential-change for a user (a password reset, as Okta's transmitter sends it), on every stream that delivers it. */
  credentialChange(userId: string, change: { credentialType?: string; changeType?: string } = {}): void {
    const subject = { format: 'iss_sub', iss: this.context.orgUrl, sub: userId };
    const event = { credential_type: change.credentialType ?? 'password', change_type: change.changeType ?? 'revoke', initiating_entity: 'user', event_timestamp: this.context.clock() };
    for (const stream of this.streams.values()) {
      if (!stream.events.has(SET_EVENTS.credentialChange)) continue;
      const claims = stream.shape === 'okta' ? { events: { [SET_EVENTS.credentialChange]: { subject, ...event } } } : { sub_id: subject, events: { [SET_EVENTS.credentialChange]: { ...event, event_timestamp: Math.floor(event.event_timestamp / 1000) } } };
      this.context.send({ stream, event: SET_EVENTS.credentialChange, token: this.securityEventToken({ aud: stream.audience, ...claims }) });
    }
  }

  /** Pushes a verification SET on a stream (SSF section 8.1.4), echoing `state`. */
  verify(stream: MockStream, state?: string): void {
    const token = this.securityEventToken({ aud: stream.audience, sub_id: { format: 'opaque', id: stream.streamId }, events: { [SET_EVENTS.verification]: strip({ state }) } });
    this.context.send({ stream, event: SET_EVENTS.verification, token });
  }

  /** A stream's configuration, as the management API answers it. */
  private describe(stream: MockStream): Record<string, unknown> {
    const supported = [SET_EVENTS.sessionRevoked, SET_EVENTS.credentialChange];
    return {
      stream_id: stream.streamId,
      iss: this.context.orgUrl,
      aud: stream.audience,
      delivery: { method: PUSH_METHOD, endpoint_url: stream.url },
      events_supported: supported,
      events_requested: [...stream.events],
      events_delivered: [...stream.events],
      format: 'iss_sub',
    };
  }
}

/** `record` without its `undefined` fields. */
function strip(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}
