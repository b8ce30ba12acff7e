/** A claim the token itself carries: never one inherited from `Object.prototype` (`constructor`, `toString`...). */
export function ownClaim(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

/** The client a token was issued to: Okta's `cid`, else RFC 9068's `client_id`. */
export function clientIdOf(claims: Readonly<{ cid?: string; client_id?: string }>): string | undefined {
  return claims.cid ?? claims.client_id;
}

/** Shortens and strips a value from a token before it goes into a message. */
export function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7E]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}

/** Lower-cases a media type and drops an `application/` prefix (RFC 7515 section 4.1.9). */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}
