import { postForm } from '../issuer/form';
import type { HttpClient } from '../issuer/http';
import { parseJson, UpstreamProblem } from '../issuer/problem';
import type { ResolvedClient } from '../issuer/client-auth';

/** What the management API credentials are (from the `sessions` option). */
export interface ApiCredentialsConfig {
  apiToken: string | undefined;
  client: (ResolvedClient & { scopes: string[]; tokenEndpoint: string }) | undefined;
  /** Of the token request: seconds, bytes. */
  timeout: number;
  maxBytes: number;
}

/**
 * How tokengate authenticates to the Okta management API: an API token (`SSWS`), or an access token
 * from client credentials (a service app with `private_key_jwt`), fetched once for every caller and
 * kept until 60 s before it expires.
 */
export class OktaApiCredentials {
  private apiToken: { header: string; until: number } | undefined;
  private apiTokenPending: Promise<string> | undefined;

  constructor(
    private readonly options: ApiCredentialsConfig,
    private readonly http: HttpClient,
    private readonly clock: () => number,
  ) {}

  /** The API refused the credentials (401, 403): an access token is fetched again next time. */
  reject(): void {
    this.apiToken = undefined;
  }

  /** The `Authorization` value: `SSWS <api token>`, or `Bearer <access token>` from client credentials, cached until 60 s before expiry. */
  async authorization(): Promise<string> {
    if (this.options.apiToken !== undefined) return `SSWS ${this.options.apiToken}`;
    const now = this.clock();
    if (this.apiToken !== undefined && this.apiToken.until > now) return this.apiToken.header;
    this.apiTokenPending ??= this.fetchApiToken().finally(() => {
      this.apiTokenPending = undefined;
    });
    return this.apiTokenPending;
  }

  private async fetchApiToken(): Promise<string> {
    const client = this.options.client!;
    const form = { grant_type: 'client_credentials', scope: client.scopes.join(' ') };
    const { response } = await postForm({ http: this.http, endpoint: client.tokenEndpoint, client, form, limits: this.options, clock: this.clock });
    if (response.status !== 200) throw new UpstreamProblem(`the token endpoint refused the sessions client (${response.status})`);
    const body = parseJson(response.body, client.tokenEndpoint);
    if (typeof body.access_token !== 'string' || typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
      throw new UpstreamProblem('the token endpoint gave no Bearer access token for the sessions client (DPoP-bound tokens are not supported: turn off "Require DPoP" for this service app)');
    }
    // Bounded: a lifetime from the answer never keeps a token past a day, nor makes a negative one.
    const lifetime = typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) ? Math.min(Math.max(body.expires_in, 0), 86_400) : 300;
    const header = `Bearer ${body.access_token}`;
    this.apiToken = { header, until: this.clock() + Math.max(0, lifetime - 60) * 1000 };
    return header;
  }
}
