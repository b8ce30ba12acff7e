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
 * `private_key_jwt` and `none` for the model's own client, and `private_key_jwt` alone for any
 * other service app (client credentials, at the custom server and for Okta API tokens). Assertion signatures are verified only once a key is
 * trusted ({@link OktaModel.trustClientKey}); until then any assertion with the right claims passes.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export class ClientAuthenticator {
  private readonly trusted: KeyObject[] = [];
  /** `iss jti` of the assertions accepted, until their `exp` (ms). */
  private readonly seenAssertions = new Map<string, number>();

  constructor(private readonly context: ClientContext) {}

  /** Trusts a public key (a KeyObject or a JWK) for client assertions. */
  trust(publicKey: KeyObject | Record<string, unknown>): void {
    this.trusted.push('asymmetricKeyType' in publicKey ? (publicKey as KeyObject) : createPublicKey({ key: publicKey as never, format: 'jwk' }));
  }

  /** Checks client authentication on an endpoint of the authorization server; a 401 answer when it fails. */
  authenticate(request: ModelRequest, form: URLSearchParams, endpoint: string): ModelResponse | undefined {
    const client = this.identify(request, form, endpoint, { anyServiceApp: false, publicAllowed: true });
    return 'failure' in client ? client.failure : undefined;
  }

  /**
   * Who authenticates a request, and how: HTTP Basic (`client_id:client_secret`, split at the
   * first colon, the secret taken form-encoded or raw; a value with no colon is a public client's
   * `client_id` alone, as okta-auth-js sends it), a `private_key_jwt` assertion (from this client or,
   * with `anyServiceApp`, from any client id), `client_secret_post`, or `client_id` alone (`none`,
   * only when `publicAllowed`). A 401 `invalid_client` answer when it fails.
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
   */
  identify(
    request: ModelRequest,
    form: URLSearchParams,
    endpoint: string,
    options: { anyServiceApp: boolean; publicAllowed: boolean },
  ): { clientId: string; confidential: boolean } | { failure: ModelResponse } {
    const { clientId, clientSecret } = this.context;
    const refuse = (why: string) => ({ failure: json(401, { error: 'invalid_client', error_description: why }) });
    const publicClient = (id: string | null) =>
      id !== clientId ? refuse('No client authentication.') : options.publicAllowed ? { clientId, confidential: false } : refuse('Client authentication is required for this grant.');
    const basic = /^Basic (.+)$/i.exec(String(request.headers.authorization ?? ''))?.[1];
    if (basic !== undefined) {
      const decoded = Buffer.from(basic, 'base64').toString();
      const colon = decoded.indexOf(':');
      const id = formDecode(colon === -1 ? decoded : decoded.slice(0, colon));
      if (colon === -1) return id === clientId ? publicClient(id) : refuse('Bad client credentials (basic).');
      // RFC 6749 says form-encode both; okta-auth-js and others send them raw. Okta's secrets need neither.
      const secret = decoded.slice(colon + 1);
      const matches = secret === clientSecret || formDecode(secret) === clientSecret;
      return id === clientId && matches ? { clientId, confidential: true } : refuse('Bad client credentials (basic).');
    }
    const assertion = form.get('client_assertion');
    if (assertion !== null) {
      const from = options.anyServiceApp ? undefined : clientId;
      const problem = this.checkAssertion(assertion, from, endpoint);
      if (problem !== undefined) return refuse(problem);
      return { clientId: String(assertionIssuer(assertion)), confidential: true };
    }
    if (form.get('client_secret') !== null) {
      return form.get('client_id') === clientId && form.get('client_secret') === clientSecret ? { clientId, confidential: true } : refuse('Bad client credentials (post).');
    }
    return publicClient(form.get('client_id'));
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
    if (typeof header !== 'object' || header === null || typeof claims !== 'object' || claims === null) return 'The client assertion is not a JWT.';
    if (typeof claims.iss !== 'string' || claims.iss !== claims.sub || (clientId !== undefined && claims.iss !== clientId)) return 'iss and sub must be the client id.';
    if (claims.aud !== audience) return 'The audience claim for client_assertion must be the endpoint invoked for the request.';
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= this.context.clock() || typeof claims.jti !== 'string') return 'exp and jti are required.';
    if (this.trusted.length > 0) {
      // Okta checks the assertion's alg against the client's key, as any JWS verifier must.
      const alg = header.alg as Algorithm;
      if (!SUPPORTED_ALGORITHMS.includes(alg)) return 'The client assertion alg is not supported.';
      const signature = Buffer.from(s ?? '', 'base64url');
      const ok = this.trusted.some((key) => algorithmsFor(key).includes(alg) && verifySignature(alg, key, `${h}.${p}`, signature));
      if (!ok) return 'The client assertion signature does not verify.';
    }
    // Okta accepts each assertion once, until it expires.
    const now = this.context.clock();
    for (const [jti, until] of this.seenAssertions) if (until <= now) this.seenAssertions.delete(jti);
    const once = `${claims.iss} ${claims.jti}`;
    if (this.seenAssertions.has(once)) return 'The client assertion was already used (jti).';
    this.seenAssertions.set(once, claims.exp * 1000);
    return undefined;
  }
}

/** One `application/x-www-form-urlencoded` value (`+` is a space); `undefined` when the encoding is malformed. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The `iss` of a client assertion already checked by {@link ClientAuthenticator.checkAssertion}. */
function assertionIssuer(assertion: string): unknown {
  return JSON.parse(Buffer.from(assertion.split('.')[1], 'base64url').toString()).iss;
}
