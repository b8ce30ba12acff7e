import { isLoopbackHost } from '../util/urls';

/** A URL option: https (http only on loopback), no credentials; an issuer also has no query or fragment. */
export function url(name: string, value: unknown, isIssuer: boolean): string {
  if (!nonEmptyString(value)) throw new TypeError(`tokengate: option "${name}" is required and must be a URL string`);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new TypeError(`tokengate: option "${name}" is not a valid URL: "${value}"`);
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname))) {
    throw new TypeError(`tokengate: option "${name}" must use https: (plain http: is allowed only for loopback hosts), got "${value}"`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new TypeError(`tokengate: option "${name}" must not contain credentials (user:password@); pass them through the options meant for them`);
  }
  if (isIssuer && (parsed.search !== '' || parsed.hash !== '')) {
    throw new TypeError(`tokengate: option "${name}" must not contain a query or fragment (RFC 8414 section 2)`);
  }
  return value;
}

/** Refuses option names not in `known`, suggesting the nearest, so a typo never silently weakens a check. */
export function rejectUnknown(prefix: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const near = known.find((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
      throw new TypeError(`tokengate: unknown option "${prefix}${key}"${near ? `; did you mean "${prefix}${near}"?` : ''}`);
    }
  }
}

/** An option that must be a plain object. */
export function object(name: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`tokengate: option "${name}" must be an object`);
  }
  return value as Record<string, unknown>;
}

/** A duration option in seconds (fractions allowed), within bounds; `fallback` when absent. */
export function seconds(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`tokengate: option "${name}" must be a number of seconds from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** A whole-number option of at least `min`; `fallback` when absent. */
export function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`tokengate: option "${name}" must be a whole number of at least ${min}, got ${String(value)}`);
  }
  return value;
}

/** An array of non-empty strings, copied; undefined when absent. */
export function stringList(name: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every(nonEmptyString)) {
    throw new TypeError(`tokengate: option "${name}" must be an array of non-empty strings`);
  }
  return [...value];
}

/** Whether a value is a non-empty string. */
export function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** Levenshtein distance, for "did you mean" hints on option names. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
