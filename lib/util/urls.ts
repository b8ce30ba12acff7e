/** True for the host names and addresses of this machine, where plain http is allowed. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** An https URL (http on loopback) without credentials: what tokengate may send secrets and tokens to. */
export function isAllowedUrl(value: string): boolean {
  try {
    const parsed = new URL(value);
    if (parsed.username !== '' || parsed.password !== '') return false;
    return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname));
  } catch {
    return false;
  }
}

/**
 * True when `tokenIssuer` looks like an Okta org authorization server: an origin with no path, on an
 * Okta domain or on the host of the expected custom authorization server (`.../oauth2/{id}`).
 */
export function isOktaOrgIssuer(tokenIssuer: string, expected: string): boolean {
  let token: URL;
  let ours: URL;
  try {
    token = new URL(tokenIssuer);
    ours = new URL(expected);
  } catch {
    return false;
  }
  const bare = token.pathname === '/' || token.pathname === '';
  const oktaHost = /\.(okta|oktapreview|okta-emea|okta-gov)\.com$/.test(token.hostname);
  return bare && (oktaHost || (token.host === ours.host && ours.pathname.startsWith('/oauth2/')));
}

/** The one explanation given for org-authorization-server tokens. */
export const ORG_SERVER_MESSAGE =
  'The token comes from an Okta org authorization server (issuer without /oauth2/...), whose signing keys Okta ' +
  'does not publish, so it cannot be validated locally. Issue tokens from a custom authorization server ' +
  '(https://{org}/oauth2/{id}), or validate them by introspection';
