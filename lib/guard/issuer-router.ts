import { LRUCache } from 'lru-cache';
import { GuardClosedError, UnknownIssuerError } from '../errors';
import { decodeJwt } from '../jose/compact';
import type { IssuerChoice, ResolvedIssuer } from '../options/issuers';
import { url } from '../options/validate';
import type { RequestLike } from '../util/request';
import { usesDpopScheme, type DpopMode } from '../verify/dpop';
import { extractBearer } from '../verify/bearer';
import type { Credential, Handled, Pipeline, RefreshHooks, TokenSet } from '../verify/pipeline';
import { definePolicy, mergePolicies, type Policy } from '../verify/policy';
import type { AuthResult } from '../verify/result';
import { closeIssuer, type IssuerRuntime } from './issuer-runtime';

/** What the guard asks of its request path, whether one issuer's {@link Pipeline} or an {@link IssuerRouter}. */
export type RequestPath = Pick<Pipeline, 'compile' | 'challengeMode' | 'credential' | 'run' | 'handleSync' | 'recover' | 'refresh'>;

/** What a router is made of. */
export interface RouterParts {
  choice: Exclude<IssuerChoice, { kind: 'one' }>;
  build: (settings: ResolvedIssuer) => IssuerRuntime;
  /** The guard-wide policy. */
  policy: Policy | undefined;
  maxTokenLength: number;
  /** Reads the access token of a `DPoP` request (see `DpopVerifier.token`). */
  dpopToken: (request: RequestLike, maxLength: number) => string;
}

/**
 * The request path of a guard with several issuers: the token's `iss`, read from its unverified
 * payload before anything else, picks the issuer whose own {@link Pipeline} decides. An `iss` that
 * is missing or not configured (or that the `issuer` function refuses) is refused with
 * `ERR_ISSUER_UNKNOWN` before any request is made, so no URL a client chose is ever fetched.
 *
 * With the function form, each allowed issuer is built once and kept in an LRU of `maxIssuers`
 * entries; an evicted issuer's key set and workers stop (a request still in flight on it then gets
 * `ERR_GUARD_CLOSED`). Refusals are not remembered: each costs one payload decode, one URL parse and
 * one call of the function.
 *
 * Does NOT accept opaque tokens: they name no issuer.
 */
export class IssuerRouter implements RequestPath {
  private readonly listed = new Map<string, IssuerRuntime>();
  private readonly allowed: LRUCache<string, IssuerRuntime> | undefined;
  private readonly compiled = new WeakMap<Policy, Policy>();
  private shut = false;

  constructor(private readonly parts: RouterParts) {
    const { choice } = parts;
    if (choice.kind === 'list') {
      for (const settings of choice.issuers) this.listed.set(settings.issuer, parts.build(settings));
    } else {
      this.allowed = new LRUCache<string, IssuerRuntime>({ max: choice.max, dispose: (runtime) => void closeIssuer(runtime) });
    }
  }

  /** The issuers held: every listed one, or those the function allowed that are still cached. */
  runtimes(): IssuerRuntime[] {
    return this.allowed === undefined ? [...this.listed.values()] : [...this.allowed.values()];
  }

  /** Stops every issuer held. */
  async close(): Promise<void> {
    this.shut = true;
    await Promise.all(this.runtimes().map(closeIssuer));
    this.allowed?.clear();
  }

  /** The guard-wide policy with a route's over it, checked against every listed issuer (the function form's, when first used). */
  compile(policy: Policy | undefined): Policy | undefined {
    if (policy !== undefined) {
      const known = this.compiled.get(policy);
      if (known !== undefined) return known;
    }
    const merged = mergePolicies(this.parts.policy, definePolicy(policy));
    for (const runtime of this.listed.values()) runtime.pipeline.compile(policy);
    const issuers = merged?.issuer as readonly string[] | undefined;
    const unknown = this.allowed === undefined ? issuers?.find((issuer) => !this.listed.has(issuer)) : undefined;
    if (unknown !== undefined) throw new TypeError(`tokengate: a policy requires the issuer "${unknown}", which the guard does not accept`);
    if (policy !== undefined && merged !== undefined) this.compiled.set(policy, merged);
    return merged;
  }

  /** See `Pipeline.challengeMode`. */
  challengeMode(policy: Policy | undefined): DpopMode {
    try {
      return this.compile(policy)?.dpop ?? 'allowed';
    } catch {
      return 'off';
    }
  }

  /** See `Pipeline.credential`. */
  credential(request: RequestLike, policy: Policy | undefined): Credential {
    if (usesDpopScheme(request) && (this.compile(policy)?.dpop ?? 'allowed') !== 'off') return { token: this.parts.dpopToken(request, this.parts.maxTokenLength), dpop: true };
    return { token: extractBearer(request, this.parts.maxTokenLength), dpop: false };
  }

  /** See `Pipeline.run`, on the token's issuer. */
  run(token: string, policy: Policy | undefined, request?: RequestLike, dpop = false): Promise<AuthResult> {
    try {
      return this.issuerOf(token).pipeline.run(token, policy, request, dpop);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** See `Pipeline.handleSync`, on the token's issuer; a `DPoP` request is left to {@link IssuerRouter.run}. */
  handleSync(request: RequestLike, policy: Policy | undefined): AuthResult | undefined {
    this.compile(policy);
    if (usesDpopScheme(request)) return undefined;
    return this.issuerOf(extractBearer(request, this.parts.maxTokenLength)).pipeline.handleSync(request, policy);
  }

  /** See `Pipeline.recover`, on the token's issuer (its own `client` refreshes). */
  recover(token: string, policy: Policy | undefined, hooks: RefreshHooks | undefined, error: unknown): Promise<Handled> {
    return this.issuerOf(token).pipeline.recover(token, policy, hooks, error);
  }

  /** A bare refresh token names no issuer: refreshing outside `handle()` needs a guard of one issuer. */
  refresh(): Promise<TokenSet> {
    return Promise.reject(new TypeError('tokengate: guard.refresh() needs a guard with a single issuer; with several, handle() refreshes through the expired token\'s issuer'));
  }

  /** The issuer the token's unverified `iss` names, or `ERR_ISSUER_UNKNOWN`; nothing is fetched here. */
  private issuerOf(token: string): IssuerRuntime {
    if (this.shut) throw new GuardClosedError('This guard is closed: the service is shutting down', 1);
    const iss = decodeJwt(token).claims.iss;
    if (typeof iss !== 'string') throw new UnknownIssuerError('The token names no issuer ("iss"); this API accepts tokens of its configured issuers only');
    const found = this.allowed === undefined ? this.listed.get(iss) : this.selected(iss);
    if (found === undefined) throw new UnknownIssuerError('The token\'s issuer is not one this API accepts');
    return found;
  }

  /** The function form: a held issuer, or one the function allows now (built, and held). */
  private selected(iss: string): IssuerRuntime | undefined {
    const held = this.allowed!.get(iss);
    if (held !== undefined) return held;
    try {
      url('iss', iss, true);
    } catch {
      return undefined;
    }
    if (this.parts.choice.kind !== 'select') return undefined;
    const settings = this.parts.choice.select(iss);
    if (settings === undefined) return undefined;
    const runtime = this.parts.build(settings);
    this.allowed!.set(iss, runtime);
    return runtime;
  }
}
