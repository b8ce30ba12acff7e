import { SUPPORTED_ALGORITHMS, type Algorithm } from '../jose/algorithms';
import { randomNonceSecret, type ResolvedDpop } from '../verify/dpop';
import { integer, object, rejectUnknown, seconds } from './validate';

/** Options of DPoP, sender-constrained tokens (the `dpop` guard option; the policy's `dpop` says where it is allowed). */
export interface DpopOptions {
  /** Algorithms a proof may be signed with; asymmetric only. Default `['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA']`. */
  algorithms?: readonly Algorithm[];
  /**
   * The external origin(s) clients reach this service at (`'https://api.example.com'`), which a
   * proof's `htu` must name. Default: the request's `Host` header, `https` on a TLS connection and
   * `http` otherwise; `X-Forwarded-*` headers are never read. Set it behind a proxy or load balancer.
   */
  origins?: string | readonly string[];
  /** Oldest proof `iat` accepted, in seconds (plus `clockTolerance`; the same leeway into the future). Default 60. */
  proofMaxAge?: number;
  /** Longest proof accepted, in characters. Default 4096. */
  maxProofLength?: number;
  /** Require a server nonce in every proof (`use_dpop_nonce`, `DPoP-Nonce`). Default `false`. */
  nonces?: boolean;
  /** Key of the server nonces, at least 32 characters; give every instance of a fleet the same. Default: random per guard. */
  nonceSecret?: string;
  /** Most proof ids remembered in this process for the replay check. Default 100000. */
  replayMax?: number;
}

const DPOP_KEYS = ['algorithms', 'origins', 'proofMaxAge', 'maxProofLength', 'nonces', 'nonceSecret', 'replayMax'];
const DEFAULT_ALGORITHMS: readonly Algorithm[] = ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'];

/** Validates the `dpop` option; `clockTolerance` is the guard's. */
export function resolveDpop(input: unknown, clockTolerance: number): ResolvedDpop {
  const o = object('dpop', input ?? {});
  rejectUnknown('dpop.', o, DPOP_KEYS);
  const algorithms = o.algorithms ?? DEFAULT_ALGORITHMS;
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((alg) => SUPPORTED_ALGORITHMS.includes(alg as Algorithm))) {
    throw new TypeError(`tokengate: option "dpop.algorithms" must be a non-empty list of ${SUPPORTED_ALGORITHMS.join(', ')} (asymmetric only: RFC 9449 refuses "none" and MACs)`);
  }
  let origins: string[] | undefined;
  if (o.origins !== undefined) {
    const list = typeof o.origins === 'string' ? [o.origins] : o.origins;
    if (!Array.isArray(list) || list.length === 0) throw new TypeError('tokengate: option "dpop.origins" must be an origin or a non-empty list of origins');
    origins = list.map((origin: unknown) => {
      let parsed: URL | undefined;
      try {
        parsed = typeof origin === 'string' ? new URL(origin) : undefined;
      } catch {
        parsed = undefined;
      }
      if (parsed === undefined || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== String(origin).replace(/\/$/, '')) {
        throw new TypeError(`tokengate: option "dpop.origins" must hold origins such as "https://api.example.com" (scheme, host, optional port; no path), not ${JSON.stringify(origin)}`);
      }
      return parsed.origin;
    });
  }
  if (o.nonces !== undefined && typeof o.nonces !== 'boolean') throw new TypeError('tokengate: option "dpop.nonces" must be a boolean');
  if (o.nonceSecret !== undefined && (typeof o.nonceSecret !== 'string' || o.nonceSecret.length < 32)) {
    throw new TypeError('tokengate: option "dpop.nonceSecret" must be a string of at least 32 characters');
  }
  return {
    algorithms: new Set(algorithms as Algorithm[]),
    algs: (algorithms as Algorithm[]).join(' '),
    origins,
    proofMaxAge: seconds('dpop.proofMaxAge', o.proofMaxAge, 60, 1, 3600),
    maxProofLength: integer('dpop.maxProofLength', o.maxProofLength, 4096, 256),
    clockTolerance,
    nonces: o.nonces === true,
    nonceSecret: o.nonceSecret === undefined ? randomNonceSecret() : Buffer.from(o.nonceSecret as string),
    replayMax: integer('dpop.replayMax', o.replayMax, 100_000, 1),
  };
}
