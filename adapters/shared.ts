import type { ServerResponse } from 'node:http';
import { backchannelLogoutRoute, createGuard, logoutRoute, oktaEventHook, sessionLogin, ssfReceiver, universalLogoutRoute, type Guard, type GuardOptions, type Policy } from '../lib';

/** The framework-neutral answers of the ready-made routes, which every adapter translates. */
export const routes = { sessionLogin, logoutRoute, backchannelLogoutRoute, universalLogoutRoute, ssfReceiver, oktaEventHook };

/** What `protect()` settles at mount, in both adapters. */
export interface Mounted {
  guard: Guard;
  /** The route's compiled policy. */
  rules: Policy | undefined;
  /** Whether the middleware answers rejections itself. */
  respond: boolean;
  /** Whether the synchronous path may be tried: no refresh hooks, and a guard that has one. */
  sync: boolean;
}

/**
 * Everything `protect()` decides once, when the route is mounted: the guard, its compiled policy
 * (a mistake throws now), the third argument checked. `passOn` is how the framework hands an error on.
 */
export function mount(guardOrOptions: Guard | GuardOptions, policy: Policy | undefined, options: { getRefreshToken?: unknown; onTokens?: unknown } | undefined, passOn: 'next' | 'throw'): Mounted {
  const guard = toGuard(guardOrOptions);
  const rules = guard.compile(policy);
  const respond = checkProtectOptions(options, passOn) === 'respond';
  // A duck-typed guard (a wrapper, another copy of tokengate) may have no synchronous path.
  const sync = options?.getRefreshToken === undefined && options?.onTokens === undefined && typeof guard.handleSync === 'function';
  return { guard, rules, respond, sync };
}

/**
 * Sets a rejection's headers on a response (both adapters), keeping those set earlier (CORS…):
 * a clearing `Set-Cookie` is added to any cookie already set, the others replace their namesakes.
 */
export function setAnswerHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  for (const name in headers) {
    if (name.toLowerCase() === 'set-cookie') res.appendHeader(name, headers[name]);
    else res.setHeader(name, headers[name]);
  }
}

/**
 * Validates the third argument of `protect()` (both adapters) and returns its `errors` mode.
 * A typo throws at mount, like a bad policy.
 */
export function checkProtectOptions(options: object | undefined, passOn: 'next' | 'throw'): 'respond' | 'next' | 'throw' {
  if (options === undefined) return 'respond';
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError('tokengate: the third argument of protect() must be an object');
  const record = options as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (name !== 'errors' && name !== 'getRefreshToken' && name !== 'onTokens') {
      throw new TypeError(`tokengate: protect() has no option "${name}" (known: errors, getRefreshToken, onTokens)`);
    }
    if (name !== 'errors' && record[name] !== undefined && typeof record[name] !== 'function') {
      throw new TypeError(`tokengate: protect() option "${name}" must be a function`);
    }
  }
  const mode: unknown = record.errors === undefined ? 'respond' : record.errors;
  if (mode === 'respond' || mode === passOn) return mode as 'respond' | 'next' | 'throw';
  throw new TypeError(`tokengate: protect() option "errors" must be "respond" or "${passOn}"`);
}

/** Accepts a guard as it is, or builds one from options. */
export function toGuard(guardOrOptions: Guard | GuardOptions): Guard {
  if (guardOrOptions !== null && typeof guardOrOptions === 'object' && typeof (guardOrOptions as Guard).verify === 'function') {
    return guardOrOptions as Guard;
  }
  return createGuard(guardOrOptions as GuardOptions);
}
