import { RevocationUnavailableError } from '../errors';
import { emit, type TokengateEvent } from '../events';
import type { HttpClient } from '../issuer/http';
import type { KeySetLimits } from '../issuer/key-set';
import type { PushState } from '../liveness/push-state';
import type { RevocationKind } from '../revocation/denylist';
import type { SharedDenylist } from '../revocation/shared';
import type { BackendSessionStore } from '../sessions/store';
import type { RevocationTarget } from './subjects';

/** What the push receivers (SSF, Okta Event Hooks) need of the guard. */
export interface PushContext {
  /** The guard's issuer. */
  issuer: string;
  http: HttpClient;
  /** The guard's `keySet` limits, which the transmitter's key set uses too. */
  keySetLimits: KeySetLimits;
  /** Seconds. */
  clockTolerance: number;
  clock: () => number;
  onEvent: ((event: TokengateEvent) => void) | undefined;
  /** Where one-time ids (SET `jti`s, Okta event `uuid`s) are recorded, here and in the shared store. */
  denylist: SharedDenylist;
  /**
   * Denylists a session, user or token everywhere as of `at` (ms: when the event happened, never
   * later than now), for as long as a token issued then can be accepted. Rejects when the shared
   * store did not take the entry (it is in force here and stays queued for the store).
   */
  revoke: (kind: RevocationKind, value: string, at: number) => Promise<void>;
  backendSessions: BackendSessionStore | undefined;
  /** Told of every receiver built (what `sessions.pushed` relies on). */
  push: PushState;
}

/**
 * Applies what a pushed event revokes: the denylist entry (a 503 {@link RevocationUnavailableError}
 * when the shared store did not take it, so that the sender delivers the event again: applying it
 * twice changes nothing, since the entry is dated by the event), then the backend sessions bound to
 * it, whose failure is only reported (`logout.failed`): the denylist already refuses their tokens.
 */
export async function applyRevocation(context: PushContext, target: RevocationTarget, at: number): Promise<void> {
  try {
    await context.revoke(target.kind, target.value, at);
  } catch (error) {
    throw new RevocationUnavailableError('The revocation store did not take the entry (it is in force on this instance); deliver the event again', 1, { cause: error });
  }
  const store = context.backendSessions;
  if (store === undefined || target.kind === 'jti') return;
  await store.deleteWhere(target.kind === 'sid' ? { sid: target.value } : { subject: target.value }).catch((error: unknown) => {
    const cause = (error as Error).cause;
    emit(context.onEvent, { type: 'logout.failed', step: 'backend sessions', message: cause instanceof Error ? cause.message : (error as Error).message });
  });
}

/**
 * Records that a pushed event was applied, until `until` (ms), here and, with a store that has
 * `claimOnce`, for every instance; a store that cannot answer leaves this instance's record alone.
 * Resolves `false` when it had been recorded before (the same event delivered again).
 */
export async function recordApplied(denylist: SharedDenylist, id: string, until: number): Promise<boolean> {
  let outcome: 'new' | 'seen' | 'local';
  try {
    outcome = await denylist.claimOnce(id, until);
  } catch {
    outcome = 'local';
  }
  if (outcome === 'local') outcome = await denylist.claimOnce(id, until, true);
  return outcome === 'new';
}
