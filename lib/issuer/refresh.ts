import { createHash } from 'node:crypto';
import { RefreshFailedError, RefreshUnavailableError } from '../errors';
import type { ResolvedClient } from './client-auth';
import type { Discovery } from './discovery';
import { postForm, type CallLimits } from './form';
import type { HttpClient } from './http';
import { parseJson, UpstreamProblem } from './problem';

/** Tokens from a refresh, the new access token already verified (`auth`, of the verifier's result type). */
export interface IssuedTokens<A> {
  accessToken: string;
  /** The refresh token to use next time: the rotated one, or the same one when the issuer does not rotate. */
  refreshToken: string;
  idToken: string | undefined;
  /** The verified new access token. */
  auth: A;
}

/** What the refresher needs of the guard: the client, the token endpoint, and how to verify a new access token. */
export interface RefreshContext<A> {
  client: ResolvedClient;
  tokenEndpoint: string | undefined;
  discovery: Discovery;
  http: HttpClient;
  clock: () => number;
  /** Seconds an outcome is reused for the same refresh token (`refreshGrace`). */
  grace: number;
  limits: CallLimits;
  verify: (accessToken: string) => Promise<A>;
}

/** Most refresh outcomes kept (in flight or within the grace); past it the oldest go first. */
const MAX_OUTCOMES = 10_000;

/**
 * Exchanges refresh tokens (`grant_type=refresh_token`) with one exchange in flight per refresh
 * token, shared by every concurrent caller, and the outcome kept for `grace` seconds: with
 * rotation, a refresh token may be used once, and reusing it revokes the whole family at Okta.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export class Refresher<A> {
  private readonly outcomes = new Map<string, { promise: Promise<IssuedTokens<A>>; until: number }>();
  calls = 0;

  constructor(private readonly context: RefreshContext<A>) {}

  /** Rejects with {@link RefreshFailedError} (the issuer refused) or {@link RefreshUnavailableError} (it could not answer). */
  refresh(refreshToken: string): Promise<IssuedTokens<A>> {
    const key = createHash('sha256').update(refreshToken).digest('base64url');
    const now = this.context.clock();
    for (const [k, outcome] of this.outcomes) if (outcome.until <= now) this.outcomes.delete(k);
    const known = this.outcomes.get(key);
    if (known !== undefined) return known.promise;
    const exchange = this.exchange(refreshToken);
    const promise = exchange.catch((error: unknown) => {
      throw error instanceof SpentRefresh ? error.cause : error;
    });
    const entry = { promise, until: Infinity };
    if (this.outcomes.size >= MAX_OUTCOMES) this.outcomes.delete(this.outcomes.keys().next().value!);
    this.outcomes.set(key, entry);
    exchange.then(
      () => {
        entry.until = this.context.clock() + this.context.grace * 1000;
      },
      (error: unknown) => {
        // Exchanged, but the new access token failed verification: the refresh token is spent
        // (rotated at the issuer), so the outcome is kept; sending it again would be a reuse.
        if (error instanceof SpentRefresh) entry.until = this.context.clock() + this.context.grace * 1000;
        else if (this.outcomes.get(key) === entry) this.outcomes.delete(key);
      },
    );
    return promise;
  }

  private async exchange(refreshToken: string): Promise<IssuedTokens<A>> {
    const { client, http, clock, limits } = this.context;
    let endpoint: string;
    let body: Record<string, unknown>;
    try {
      endpoint = this.context.tokenEndpoint ?? ((await this.context.discovery.get()).token_endpoint as string);
      if (typeof endpoint !== 'string') throw new UpstreamProblem('the discovery document names no token_endpoint');
      const form = { grant_type: 'refresh_token', refresh_token: refreshToken };
      const { response } = await postForm({ http, endpoint, client, form, limits, clock, sending: () => this.calls++ });
      if (response.status === 400 || response.status === 401) {
        const error = safeError(response.body);
        throw new RefreshFailedError(`The issuer refused the refresh token (${error}); sign in again`);
      }
      if (response.status !== 200) throw new UpstreamProblem(`${endpoint} answered ${response.status}`);
      body = parseJson(response.body, endpoint);
    } catch (error) {
      if (error instanceof RefreshFailedError) throw error;
      throw new RefreshUnavailableError(`Refreshing failed: ${(error as Error).message}`, 5, { cause: error });
    }
    if (typeof body.access_token !== 'string') throw new RefreshUnavailableError('The token endpoint answered without an access_token', 5);
    let auth: A;
    try {
      auth = await this.context.verify(body.access_token);
    } catch (error) {
      throw new SpentRefresh(error);
    }
    return {
      accessToken: body.access_token,
      refreshToken: typeof body.refresh_token === 'string' ? body.refresh_token : refreshToken,
      idToken: typeof body.id_token === 'string' ? body.id_token : undefined,
      auth,
    };
  }
}

/** A refresh whose exchange worked but whose new access token failed verification; `cause` is the failure. */
class SpentRefresh extends Error {
  constructor(override readonly cause: unknown) {
    super('refreshed, but the new access token failed verification');
  }
}

/** The OAuth `error` code of an error answer, reduced to safe characters and at most 64 of them. */
function safeError(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error.replace(/[^a-z_]/gi, '').slice(0, 64) || 'no error code';
  } catch {
    // not JSON: say nothing more
  }
  return 'no error code';
}
