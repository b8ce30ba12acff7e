import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether a presented secret equals the expected one, in time that does not depend on where they
 * differ: both are hashed (SHA-256) first, so the comparison is of equal-length digests whatever the
 * lengths, and `crypto.timingSafeEqual` compares those. A missing value never matches.
 */
export function sameSecret(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}
