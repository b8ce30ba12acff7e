import { randomBytes } from 'node:crypto';
import { SUPPORTED_ALGORITHMS } from '../../jose/algorithms';
import { normalizeHtu, verifyProof, type ProofRules } from '../../jose/dpop';
import { json, type ModelRequest, type ModelResponse } from './http';

const RULES: ProofRules = { algorithms: new Set(SUPPORTED_ALGORITHMS), proofMaxAge: 300, clockTolerance: 60, maxProofLength: 8192 };

/**
 * DPoP (RFC 9449) as Okta's token endpoints and APIs do it: a proof at a token endpoint binds the
 * token to its key, after Okta's `use_dpop_nonce` round; a bound token is accepted only with a proof
 * of that key. `required` makes a token request without a proof fail (a service app with "Require DPoP").
 */
export class DpopServer {
  /** The nonce the token endpoints hand out (`DPoP-Nonce`). */
  readonly nonce = randomBytes(16).toString('base64url');
  required = false;

  constructor(private readonly clock: () => number) {}

  /** At a token endpoint: the thumbprint to bind the token to (`undefined`: no proof, a bearer token), or Okta's 400 answer. */
  atTokenEndpoint(request: ModelRequest, url: string, required = this.required): { jkt: string | undefined } | { failure: ModelResponse } {
    const proof = request.headers.dpop;
    if (proof === undefined) {
      return required ? { failure: json(400, { error: 'invalid_dpop_proof', error_description: 'The DPoP proof JWT header is missing.' }) } : { jkt: undefined };
    }
    let verified;
    try {
      verified = verifyProof(String(proof), RULES, { method: 'POST', urls: [normalizeHtu(url)!], accessToken: undefined }, Math.floor(this.clock() / 1000));
    } catch (error) {
      return { failure: json(400, { error: 'invalid_dpop_proof', error_description: (error as Error).message }) };
    }
    if (verified.nonce !== this.nonce) {
      return { failure: json(400, { error: 'use_dpop_nonce', error_description: 'Authorization server requires nonce in DPoP proof.' }, { 'dpop-nonce': this.nonce }) };
    }
    return { jkt: verified.thumbprint };
  }

  /** At an API: whether a request carries a bound token with a valid proof of its key for this call. */
  atApi(request: ModelRequest, url: string, token: string, jkt: string): boolean {
    if (!/^DPoP /i.test(String(request.headers.authorization ?? '')) || request.headers.dpop === undefined) return false;
    try {
      const verified = verifyProof(String(request.headers.dpop), RULES, { method: request.method, urls: [normalizeHtu(url)!], accessToken: token }, Math.floor(this.clock() / 1000));
      return verified.thumbprint === jkt;
    } catch {
      return false;
    }
  }
}
