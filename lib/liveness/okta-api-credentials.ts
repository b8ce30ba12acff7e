import { postForm } from '../issuer/form';
import type { HttpClient } from '../issuer/http';
import { parseJson, UpstreamProblem } from '../issuer/problem';
import type { ResolvedClient } from '../issuer/client-auth';
import { signProof } from '../jose/dpop';
import type { KeyObject } from 'node:crypto';

/** What the management API credentials are (from the `sessions` option). */
export interface ApiCredentialsConfig {
  apiToken: string | undefined;
  client: (ResolvedClient & { scopes: string[]; tokenEndpoint: string; dpopKey: KeyObject | undefined }) | undefined;
  /** Of the token request: seconds, bytes. */
  timeout: number;
  maxBytes: number;
}

/**
 * How tokengate authenticates to the Okta management API: an API token (`SSWS`), or an access token
 * from client credentials (a service app with `private_key_jwt`), fetched once for every caller and
 * kept until 60 s before it expires. With a DPoP key the access token is DPoP-bound (RFC 9449): the
 * token request and every API call carry a proof, and a server nonce asked for (`use_dpop_nonce`)
 * is used from then on.
 */
export class OktaApiCredentials {
  private apiToken: { token: string; dpop: boolean; until: number } | undefined;
  private apiTokenPending: Promise<{ token: string; dpop: boolean }> | undefined;
  /** The last `DPoP-Nonce` of the token endpoint and of the API. */
  private readonly nonces = new Map<'token' | 'api', string>();

  constructor(
    private readonly options: ApiCredentialsConfig,
    private readonly http: HttpClient,
    private readonly clock: () => number,
  ) {}

  /** The API refused the credentials (401, 403): an access token is fetched again next time. */
  reject(): void {
    this.apiToken = undefined;
  }

  /**
   * The headers that authenticate one API call: `Authorization: SSWS <api token>`, `Bearer <access
   * token>`, or `DPoP <access token>` with its `DPoP` proof for `method` and `url`.
   */
  async headers(method: string, url: string): Promise<Record<string, string>> {
    if (this.options.apiToken !== undefined) return { authorization: `SSWS ${this.options.apiToken}` };
    const now = this.clock();
    let current = this.apiToken !== undefined && this.apiToken.until > now ? this.apiToken : undefined;
    if (current === undefined) {
      this.apiTokenPending ??= this.fetchApiToken().finally(() => {
        this.apiTokenPending = undefined;
      });
      current = { ...(await this.apiTokenPending), until: 0 };
    }
    if (!current.dpop) return { authorization: `Bearer ${current.token}` };
    const dpop = this.proof(method, url, current.token, this.nonces.get('api'));
    return { authorization: `DPoP ${current.token}`, dpop };
  }

  /**
   * Whether an API answer asks for a DPoP nonce (401 with `use_dpop_nonce` and `DPoP-Nonce`); the
   * nonce is kept, and the caller retries once.
   */
  wantsNonce(status: number, headers: Readonly<Record<string, string | undefined>>): boolean {
    const nonce = headers['dpop-nonce'];
    if (this.options.client?.dpopKey === undefined || status !== 401 || nonce === undefined || !/use_dpop_nonce/.test(headers['www-authenticate'] ?? '')) return false;
    const fresh = this.nonces.get('api') !== nonce;
    this.nonces.set('api', nonce);
    return fresh;
  }

  private proof(method: string, url: string, accessToken: string | undefined, nonce: string | undefined): string {
    return signProof({ privateKey: this.options.client!.dpopKey!, method, url, accessToken, nonce, iat: Math.floor(this.clock() / 1000) });
  }

  private async fetchApiToken(): Promise<{ token: string; dpop: boolean }> {
    const client = this.options.client!;
    const form = { grant_type: 'client_credentials', scope: client.scopes.join(' ') };
    const post = () =>
      postForm({
        http: this.http,
        endpoint: client.tokenEndpoint,
        client,
        form,
        limits: this.options,
        clock: this.clock,
        headers: client.dpopKey === undefined ? undefined : { dpop: this.proof('POST', client.tokenEndpoint, undefined, this.nonces.get('token')) },
      });
    let { response } = await post();
    let body = response.status === 200 || response.status === 400 ? safeJson(response.body) : undefined;
    const nonce = response.headers['dpop-nonce'];
    if (client.dpopKey !== undefined && response.status === 400 && body?.error === 'use_dpop_nonce' && nonce !== undefined) {
      // Okta asks for its nonce on the first DPoP token request: once more, with it.
      this.nonces.set('token', nonce);
      ({ response } = await post());
      body = response.status === 200 || response.status === 400 ? safeJson(response.body) : undefined;
    }
    if (response.status !== 200) {
      const dpopHint = client.dpopKey === undefined && body?.error === 'invalid_dpop_proof' ? ': the service app requires DPoP, set "sessions.client.dpop: true"' : '';
      throw new UpstreamProblem(`the token endpoint refused the sessions client (${response.status})${dpopHint}`);
    }
    body = parseJson(response.body, client.tokenEndpoint);
    const type = typeof body.token_type === 'string' ? body.token_type.toLowerCase() : undefined;
    const expected = client.dpopKey === undefined ? 'bearer' : 'dpop';
    if (typeof body.access_token !== 'string' || type !== expected) {
      throw new UpstreamProblem(`the token endpoint gave no ${expected === 'dpop' ? 'DPoP' : 'Bearer'} access token for the sessions client${expected === 'bearer' && type === 'dpop' ? ' (it is DPoP-bound: set "sessions.client.dpop: true")' : ''}`);
    }
    // Bounded: a lifetime from the answer never keeps a token past a day, nor makes a negative one.
    const lifetime = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) ? Math.min(Math.max(body.expires_in, 0), 86_400) : 300;
    const issued = { token: body.access_token, dpop: expected === 'dpop' };
    this.apiToken = { ...issued, until: this.clock() + Math.max(0, lifetime - 60) * 1000 };
    return issued;
  }
}

/** A JSON object body, or `undefined`. */
function safeJson(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
