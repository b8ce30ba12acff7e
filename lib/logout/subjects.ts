import { SecurityEventError } from '../errors';
import type { RevocationKind } from '../revocation/denylist';
import { printable } from '../util/claims';

/** What a pushed event revokes: a denylist entry's kind and value. */
export interface RevocationTarget {
  kind: RevocationKind;
  value: string;
}

/** Whose subjects an event names, for mapping them to what this guard's tokens carry. */
export interface SubjectContext {
  /** The guard's issuer: an `iss_sub` or `jwt_id` of it names its tokens' `sub` or `jti`. */
  issuer: string;
  /** The transmitter's issuer: an `iss_sub` of it names its own user id (Okta's `uid` claim). */
  transmitter: string;
}

/** Members of a complex subject (SSF 1.0 section 3.2) that name what this receiver can act on, or that mark an object as one. */
const COMPLEX_MEMBERS = ['user', 'session', 'device', 'application', 'tenant', 'org_unit', 'group'];

const identifier = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' && value.length <= 1024 ? value : undefined);

const record = (value: unknown): Record<string, unknown> | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;

const unmappable = (message: string): never => {
  throw new SecurityEventError('invalid_request', message);
};

/**
 * The subject of an event: the top-level `sub_id` (SSF 1.0), else the event's own `subject` (CAEP
 * events as earlier drafts and Okta's transmitter send them). `invalid_request` when there is none.
 */
export function subjectOf(claims: Readonly<Record<string, unknown>>, event: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return record(claims.sub_id) ?? record(event.subject) ?? unmappable('The event names no subject ("sub_id", or "subject" in the event)');
}

/**
 * Maps a subject identifier (RFC 9493, SSF 1.0 section 3) to what it revokes here. A complex subject
 * (`format: complex`, or the members without a format as Okta and earlier drafts send them) revokes
 * its member for the `role`, else the other: for session-revoked (`role: 'session'`) its `session`
 * (the narrowest) or else its `user`; for credential-change (`role: 'user'`) its `user` or else its
 * `session`. A simple subject is taken in the role: a session's `opaque` id, or a user.
 *
 * Sessions: `opaque` (`id`), as `sid` entries (tokens whose session claim holds it). Users: `email`
 * and `iss_sub` of the guard's issuer or the transmitter, as `sub` entries, which refuse tokens whose
 * `sub` (Okta's login) or `uid` (Okta's user id) is the value; `opaque` (`id`) as the user id. A
 * `jwt_id` of the guard's issuer revokes that one token (`jti`).
 *
 * Does NOT map phone numbers, accounts, DIDs, URIs, aliases, devices or tenants: those are
 * `invalid_request` (no token here carries them), as is an `iss_sub` of another issuer.
 */
export function targetOf(subject: Readonly<Record<string, unknown>>, role: 'session' | 'user', context: SubjectContext): RevocationTarget {
  const complex = subject.format === 'complex' || (subject.format === undefined && COMPLEX_MEMBERS.some((name) => record(subject[name]) !== undefined));
  if (!complex) return simple(subject, role, context);
  for (const name of role === 'session' ? (['session', 'user'] as const) : (['user', 'session'] as const)) {
    const member = record(subject[name]);
    if (member !== undefined) return simple(member, name, context);
  }
  return unmappable('The complex subject names neither a session nor a user');
}

function simple(subject: Readonly<Record<string, unknown>>, role: 'session' | 'user', context: SubjectContext): RevocationTarget {
  const format = subject.format;
  if (format === 'opaque') {
    const id = identifier(subject.id) ?? unmappable('The opaque subject has no "id"');
    return role === 'session' ? { kind: 'sid', value: id } : { kind: 'sub', value: id };
  }
  if (format === 'email') return { kind: 'sub', value: identifier(subject.email) ?? unmappable('The email subject has no "email"') };
  if (format === 'iss_sub') {
    if (subject.iss !== context.issuer && subject.iss !== context.transmitter) {
      unmappable(`The subject is a user of another issuer (${typeof subject.iss === 'string' ? printable(subject.iss) : 'none'})`);
    }
    return { kind: 'sub', value: identifier(subject.sub) ?? unmappable('The iss_sub subject has no "sub"') };
  }
  if (format === 'jwt_id') {
    if (subject.iss !== context.issuer) unmappable('The jwt_id subject names a token of another issuer');
    return { kind: 'jti', value: identifier(subject.jti) ?? unmappable('The jwt_id subject has no "jti"') };
  }
  return unmappable(`A subject of format ${typeof format === 'string' ? `"${printable(format)}"` : '(none)'} cannot be mapped to tokens here`);
}
