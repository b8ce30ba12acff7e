import * as tokengate from 'tokengate';
import { AuthError, type AnyAuthError, type AuthErrorCode } from 'tokengate';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Exports = typeof tokengate;
/** The instances of every concrete (constructible) AuthError class the package exports. */
type ConcreteAuthErrors = {
  [K in keyof Exports]: Exports[K] extends new (...args: never[]) => infer I ? (I extends AuthError ? I : never) : never;
}[keyof Exports];

// Compile-time: the union holds exactly the exported classes, and its codes are exactly AuthErrorCode.
const sameClasses: Equal<ConcreteAuthErrors, AnyAuthError> = true;
const sameCodes: Equal<AnyAuthError['code'], AuthErrorCode> = true;

/** Narrowing by code reaches the class's own members. */
function claimOf(error: AnyAuthError): string | undefined {
  switch (error.code) {
    case 'ERR_CLAIM_INVALID':
      return error.claim;
    case 'ERR_SESSION_NOT_ACTIVE':
      return error.status === 401 ? 'session' : undefined;
    default:
      return undefined;
  }
}

test('every exported AuthError class has a code of its own, and the union narrows on it', () => {
  expect(sameClasses && sameCodes).toBe(true);
  const classes = Object.entries(tokengate as Record<string, unknown>).filter(
    (entry): entry is [string, new (...args: unknown[]) => AuthError] => typeof entry[1] === 'function' && (entry[1] as { prototype: unknown }).prototype instanceof AuthError,
  );
  const codes = new Map<string, string>();
  for (const [name, Class] of classes) {
    // Abstract bases have no code of their own (undefined at run time); every concrete class sets one.
    const instance = name === 'ClaimInvalidError' || name === 'SessionClaimMissingError' || name === 'SessionNotActiveError' ? new Class('x', 'message') : new Class('message', 1);
    if (instance.code === undefined) continue;
    expect(codes.get(instance.code)).toBeUndefined();
    codes.set(instance.code, name);
  }
  expect(codes.size).toBeGreaterThan(30);
  expect(claimOf(new tokengate.ClaimInvalidError('scp', 'bad'))).toBe('scp');
});
