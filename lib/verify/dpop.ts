import { createHash, createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import {
  DpopBoundTokenAsBearerError,
  DpopKeyMismatchError,
  DpopNonceError,
  DpopProofMalformedError,
  DpopProofMissingError,
  DpopProofReplayedError,
  DpopRequiredError,
  MalformedRequestError,
  RevocationUnavailableError,
  TokenTooLargeError,
} from '../errors';
import { normalizeHtu, verifyProof, type ProofRules } from '../jose/dpop';
import { settleWithin } from '../util/deadline';
import type { RequestLike } from '../util/request';
import { isB64Token } from './bearer';
import type { AuthResult } from './result';

/** The `dpop` option, resolved. */
export interface ResolvedDpop extends ProofRules {
  /** The external origins clients reach this service at (`https://api.example.com`); `undefined`: from the request's `Host`. */
  origins: readonly string[] | undefined;
  /** Whether proofs must carry a server nonce. */
  nonces: boolean;
  /** Key of the nonces; the same on every instance of a fleet when given. */
  nonceSecret: Buffer;
  /** Most proof ids remembered in this process. */
  replayMax: number;
  /** The `algs` of the `DPoP` challenge. */
  algs: string;
}

/** Records a one-time id for the whole fleet (the revocation store's `claimOnce`); `true` when it was new. */
export type ClaimOnce = (id: string, until: number) => Promise<boolean>;

/** How a route treats DPoP (the policy's `dpop`). */
export type DpopMode = 'required' | 'allowed' | 'off';

/** Whether a request uses the `DPoP` authorization scheme (checked on the first letters only: cheap). */
export function usesDpopScheme(request: RequestLike): boolean {
  const header = request.headers.authorization;
  return typeof header === 'string' && header.length > 5 && (header.charCodeAt(0) | 32) === 100 && header.charCodeAt(4) === 32 && /^dpop$/i.test(header.slice(0, 4));
}

/** The key a token is bound to: its `cnf.jkt`, or `undefined`. */
export function boundKey(result: AuthResult): string | undefined {
  const cnf = result.claims.cnf as { jkt?: unknown } | undefined;
  return cnf !== null && typeof cnf === 'object' && typeof cnf.jkt === 'string' ? cnf.jkt : undefined;
}

/** A bearer-scheme request: a bound token, or any token on a route that requires DPoP, is refused. */
export function checkBearerUse(result: AuthResult, mode: DpopMode): void {
  if (boundKey(result) !== undefined) throw new DpopBoundTokenAsBearerError('This token is bound to a key (DPoP): send it as "Authorization: DPoP <token>" with a DPoP proof');
  if (mode === 'required') throw new DpopRequiredError('This route requires a DPoP-bound token: send "Authorization: DPoP <token>" with a DPoP proof');
}

/**
 * DPoP for one guard (RFC 9449): the token of `Authorization: DPoP`, and its proof checked against
 * the request, the token's `cnf.jkt`, the replay cache (this process, and the fleet through the
 * revocation store's `claimOnce` when there is one) and, when on, the server nonce.
 */
export class DpopVerifier {
  private readonly seen: LRUCache<string, true>;

  constructor(
    private readonly config: ResolvedDpop,
    private readonly claimOnce: ClaimOnce | undefined,
    private readonly clock: () => number,
  ) {
    this.seen = new LRUCache({ max: config.replayMax, ttl: (config.proofMaxAge + 2 * config.clockTolerance) * 1000, ttlAutopurge: false });
  }

  /** The `algs` of the challenge. */
  get algs(): string {
    return this.config.algs;
  }

  /** The token of `Authorization: DPoP <token>`, with the same syntax and size rules as a bearer token. */
  token(request: RequestLike, maxLength: number): string {
    const token = (request.headers.authorization as string).slice(5).replace(/^ +/, '');
    if (token.length === 0) throw new MalformedRequestError('The Authorization header names the DPoP scheme but carries no token');
    if (token.length > maxLength) throw new TokenTooLargeError(`The token is ${token.length} characters long; at most ${maxLength} are accepted`);
    if (!isB64Token(token)) throw new MalformedRequestError('The DPoP token must be a single token68 value');
    return token;
  }

  /**
   * Checks the request's proof for a token sent with the DPoP scheme: one proof, valid for this
   * request (see `verifyProof`), made with the key the token is bound to, never seen before, with a
   * current nonce when nonces are on.
   */
  async check(request: RequestLike, result: AuthResult): Promise<void> {
    const jkt = boundKey(result);
    if (jkt === undefined) throw new DpopKeyMismatchError('The token is not bound to a key (no cnf.jkt): send it as "Authorization: Bearer <token>"');
    const proof = this.proofOf(request);
    const now = this.clock();
    const urls = this.urlsOf(request);
    const verified = verifyProof(proof, this.config, { method: request.method ?? 'GET', urls, accessToken: result.token }, Math.floor(now / 1000));
    if (verified.thumbprint !== jkt) throw new DpopKeyMismatchError('The DPoP proof is signed with another key than the one the token is bound to');
    if (this.config.nonces && (verified.nonce === undefined || !this.currentNonces(now).includes(verified.nonce))) {
      throw new DpopNonceError('This service requires a DPoP nonce: make a new proof with the nonce in the DPoP-Nonce header', this.nonce(now));
    }
    await this.once(verified.thumbprint, verified.jti, (verified.iat + this.config.proofMaxAge + 2 * this.config.clockTolerance) * 1000);
  }

  /** The nonce clients must put in their proofs now (the `DPoP-Nonce` header). */
  nonce(now = this.clock()): string {
    return this.nonceFor(Math.floor(now / 1000 / this.config.proofMaxAge));
  }

  /** The one `DPoP` header of a request. */
  private proofOf(request: RequestLike): string {
    const header = request.headers.dpop;
    if (header === undefined) throw new DpopProofMissingError('"Authorization: DPoP" needs a DPoP proof header');
    const raw = request.rawHeaders;
    let count = 0;
    if (raw !== undefined) for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'dpop') count++;
    if (typeof header !== 'string' || count > 1 || header.includes(',')) throw new DpopProofMalformedError('Send exactly one DPoP proof header');
    return header.trim();
  }

  /** The `htu` values this request may be named by: each trusted origin, or the `Host` it came to. */
  private urlsOf(request: RequestLike): string[] {
    const target = request.originalUrl ?? request.url ?? '/';
    const path = target.split(/[?#]/, 1)[0];
    const origins = this.config.origins ?? this.requestOrigin(request);
    const urls: string[] = [];
    for (const origin of origins) {
      const url = normalizeHtu(`${origin}${path.startsWith('/') ? path : `/${path}`}`);
      if (url !== undefined) urls.push(url);
    }
    return urls;
  }

  /** The origin of the request from its `Host` and the connection (TLS or not); never from `X-Forwarded-*`. */
  private requestOrigin(request: RequestLike): string[] {
    const host = request.headers.host;
    if (typeof host !== 'string' || host === '') return [];
    const encrypted = request.socket?.encrypted === true;
    return [`${encrypted ? 'https' : 'http'}://${host}`];
  }

  /** The nonces accepted now: this window's and the previous one's. */
  private currentNonces(now: number): string[] {
    const window = Math.floor(now / 1000 / this.config.proofMaxAge);
    return [this.nonceFor(window), this.nonceFor(window - 1)];
  }

  private nonceFor(window: number): string {
    return createHmac('sha256', this.config.nonceSecret).update(String(window)).digest('base64url').slice(0, 32);
  }

  /** Records a proof as used, here and (with a shared store) for the fleet; a replay is refused. */
  private async once(thumbprint: string, jti: string, until: number): Promise<void> {
    const id = createHash('sha256').update(`${thumbprint}.${jti}`).digest('base64url');
    if (this.seen.has(id)) throw new DpopProofReplayedError('This DPoP proof was used before: make a new proof for every request');
    this.seen.set(id, true);
    if (this.claimOnce === undefined) return;
    let fresh: boolean;
    try {
      fresh = await settleWithin(() => this.claimOnce!(`dpop:${id}`, until), 2000, () => new Error('The revocation store did not answer within 2 s'));
    } catch (error) {
      this.seen.delete(id);
      throw new RevocationUnavailableError('The shared store that records DPoP proofs is unreachable; retry', 1, { cause: error });
    }
    if (!fresh) throw new DpopProofReplayedError('This DPoP proof was used before: make a new proof for every request');
  }
}

/** A fresh nonce key, for a guard given no `dpop.nonceSecret`. */
export function randomNonceSecret(): Buffer {
  return randomBytes(32);
}
