import type { ResolvedClient } from './client-auth';
import type { Discovery } from './discovery';
import { postForm, type CallLimits } from './form';
import type { HttpClient } from './http';

/** What revoking at the issuer needs. */
export interface IssuerRevocation {
  http: HttpClient;
  discovery: Discovery;
  client: ResolvedClient;
  /** The `endpoints.revocation` option; from discovery when undefined. */
  endpoint: string | undefined;
  limits: CallLimits;
  clock: () => number;
}

/**
 * Revokes a token at the issuer (RFC 7009). Rejects with an `Error` saying why when the issuer
 * names no endpoint or does not answer 200.
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
 */
export async function revokeAtIssuer(config: IssuerRevocation, token: string, hint: 'access_token' | 'refresh_token'): Promise<void> {
  const endpoint = config.endpoint ?? (await config.discovery.get()).revocation_endpoint;
  if (typeof endpoint !== 'string') throw new Error('the issuer names no revocation_endpoint; set "endpoints.revocation"');
  const { response } = await postForm({ ...config, endpoint, form: { token, token_type_hint: hint } });
  if (response.status !== 200) throw new Error(`${endpoint} answered ${response.status}`);
}
