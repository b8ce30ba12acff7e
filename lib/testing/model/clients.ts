import { createPublicKey, type KeyObject } from 'node:crypto';
import { SUPPORTED_ALGORITHMS, type Algorithm } from '../../jose/algorithms';
import { algorithmsFor, verifySignature } from '../../jose/signature';
import { json, type ModelRequest, type ModelResponse } from './http';

/** What client authentication needs of the model: the one client it knows, and its clock. */
export interface ClientContext {
  clientId: string;
  clientSecret: string;
  clock: () => number;
}

/**
 * Client authentication at the authorization server: `client_secret_basic`, `client_secret_post`,
 * `private_key_jwt` and `none` for the model's own client, and `private_key_jwt` alone for the
 * service apps that get Okta API tokens. Assertion signatures are verified only once a key is
 * trusted ({@link OktaModel.trustClientKey}); until then any assertion with the right claims passes.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export class ClientAuthenticator {
  private readonly trusted: KeyObject[] = [];

  constructor(private readonly context: ClientContext) {}

  /** Trusts a public key (a KeyObject or a JWK) for client assertions. */
  trust(publicKey: KeyObject | Record<string, unknown>): void {
    this.trusted.push('asymmetricKeyType' in publicKey ? (publicKey as KeyObject) : createPublicKey({ key: publicKey as never, format: 'jwk' }));
  }

  /** Checks client authentication on an endpoint of the authorization server; a 401 answer when it fails. */
  authenticate(request: ModelRequest, form: URLSearchParams, endpoint: string): ModelResponse | undefined {
    const { clientId, clientSecret } = this.context;
    const refuse = (why: string) => json(401, { error: 'invalid_client', error_description: why });
    const basic = /^Basic (.+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
    if (basic !== undefined) {
      const [id, secret] = Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent);
      return id === clientId && secret === clientSecret ? undefined : refuse('Bad client credentials (basic).');
    }
    const assertion = form.get('client_assertion');
    if (assertion !== null) return this.checkAssertion(assertion, clientId, endpoint) === undefined ? undefined : refuse('Bad client assertion.');
    if (form.get('client_secret') !== null) {
      return form.get('client_id') === clientId && form.get('client_secret') === clientSecret ? undefined : refuse('Bad client credentials (post).');
    }
    return form.get('client_id') === clientId ? undefined : refuse('No client authentication.');
  }

  /**
   * Checks a `private_key_jwt` assertion for `audience` (the endpoint URL), from `clientId` or, when
   * that is `undefined`, from any client; returns what is wrong, or `undefined`.
   */
  checkAssertion(assertion: string, clientId: string | undefined, audience: string): string | undefined {
    const [h, p, s] = assertion.split('.');
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString());
      claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    } catch {
      return 'The client assertion is not a JWT.';
    }
    if (claims.iss !== claims.sub || (clientId !== undefined && claims.iss !== clientId)) return 'iss and sub must be the client id.';
    if (claims.aud !== audience) return `aud must be ${audience}.`;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= this.context.clock() || typeof claims.jti !== 'string') return 'exp and jti are required.';
    if (this.trusted.length > 0) {
      // Okta checks the assertion's alg against the client's key, as any JWS verifier must.
      const alg = header.alg as Algorithm;
      if (!SUPPORTED_ALGORITHMS.includes(alg)) return 'The client assertion alg is not supported.';
      const signature = Buffer.from(s ?? '', 'base64url');
      const ok = this.trusted.some((key) => algorithmsFor(key).includes(alg) && verifySignature(alg, key, `${h}.${p}`, signature));
      if (!ok) return 'The client assertion signature does not verify.';
    }
    return undefined;
  }
}
