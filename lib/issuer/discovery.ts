import { printable } from '../util/claims';
import { isAllowedUrl } from '../util/urls';
import type { HttpClient } from './http';
import { parseJson, UpstreamProblem } from './problem';

/** The parts of an authorization server's metadata tokengate reads. */
export interface ServerMetadata {
  issuer: string;
  jwks_uri: string;
  introspection_endpoint?: string;
  revocation_endpoint?: string;
  token_endpoint?: string;
  end_session_endpoint?: string;
  [name: string]: unknown;
}

/** Limits of one metadata request. */
export interface FetchLimits {
  timeout: number;
  maxBytes: number;
}

/**
 * The well-known URLs tried, in order: OpenID Connect discovery appended to the issuer, then OAuth
 * metadata appended (Okta's form) and inserted after the host (RFC 8414's form).
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 */
export function discoveryUrls(issuer: string): string[] {
  const base = issuer.endsWith('/') ? issuer.slice(0, -1) : issuer;
  const parsed = new URL(issuer);
  const path = parsed.pathname === '/' ? '' : parsed.pathname.replace(/\/$/, '');
  const urls = [
    `${base}/.well-known/openid-configuration`,
    `${base}/.well-known/oauth-authorization-server`,
    `${parsed.origin}/.well-known/oauth-authorization-server${path}`,
  ];
  return [...new Set(urls)];
}

/**
 * Where an SSF transmitter publishes its configuration: `/.well-known/ssf-configuration` inserted
 * between the host and the path of its issuer (Okta's transmitter is the org URL, so
 * `https://{org}/.well-known/ssf-configuration`).
 * @see https://openid.net/specs/openid-sharedsignals-framework-1_0.html
 */
export function ssfConfigurationUrl(transmitter: string): string {
  const parsed = new URL(transmitter);
  const path = parsed.pathname === '/' ? '' : parsed.pathname.replace(/\/$/, '');
  return `${parsed.origin}/.well-known/ssf-configuration${path}`;
}

/**
 * Fetches the issuer's metadata once and keeps it; concurrent callers share one request, and a
 * failure is not kept, so the next caller tries again. The document's `issuer` must equal ours
 * exactly, and `jwks_uri` must be https (http only on loopback). The same rules hold for an SSF
 * transmitter's configuration (give `urls`: `[ssfConfigurationUrl(transmitter)]`).
 */
export class Discovery {
  private metadata: ServerMetadata | undefined;
  private inflight: Promise<ServerMetadata> | undefined;

  constructor(
    private readonly issuer: string,
    private readonly http: HttpClient,
    private readonly limits: FetchLimits,
    /** The well-known URLs tried, in order. Default: {@link discoveryUrls} of the issuer. */
    private readonly urls: readonly string[] = discoveryUrls(issuer),
  ) {}

  /** The metadata, fetched on first use. Rejects with {@link UpstreamProblem}. */
  get(): Promise<ServerMetadata> {
    if (this.metadata !== undefined) return Promise.resolve(this.metadata);
    this.inflight ??= this.load().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Forgets the metadata, so the next {@link Discovery.get} fetches it again. */
  reset(): void {
    this.metadata = undefined;
  }

  private async load(): Promise<ServerMetadata> {
    const tried: string[] = [];
    for (const url of this.urls) {
      const response = await this.http
        .request({ method: 'GET', url, headers: { accept: 'application/json' }, ...this.limits })
        .catch((error: Error) => {
          throw new UpstreamProblem(`discovery failed: ${error.message}`, { cause: error });
        });
      if (response.status === 404) {
        tried.push(url);
        continue;
      }
      if (response.status !== 200) throw new UpstreamProblem(`discovery failed: ${url} answered ${response.status}`);
      this.metadata = validate(parseJson(response.body, url), this.issuer, url);
      return this.metadata;
    }
    throw new UpstreamProblem(`discovery failed: no metadata document at ${tried.join(' or ')}; set "jwksUri" if the issuer publishes none`);
  }
}

function validate(document: Record<string, unknown>, issuer: string, url: string): ServerMetadata {
  if (document.issuer !== issuer) {
    const named = typeof document.issuer === 'string' ? printable(document.issuer) : String(document.issuer).slice(0, 80);
    throw new UpstreamProblem(`discovery failed: ${url} names issuer "${named}", not "${issuer}" (check the "issuer" option, including any trailing slash)`);
  }
  const jwksUri = document.jwks_uri;
  if (typeof jwksUri !== 'string' || !isAllowedUrl(jwksUri)) {
    throw new UpstreamProblem(`discovery failed: ${url} has no usable https "jwks_uri"`);
  }
  // Client secrets, assertions and tokens are posted to these: one that is not https (http on
  // loopback), or carries credentials, is left out, and what needs it says the issuer names none.
  const metadata: Record<string, unknown> = { ...document };
  for (const name of ['introspection_endpoint', 'revocation_endpoint', 'token_endpoint', 'end_session_endpoint']) {
    const value = metadata[name];
    if (value !== undefined && (typeof value !== 'string' || !isAllowedUrl(value))) delete metadata[name];
  }
  return metadata as ServerMetadata;
}
