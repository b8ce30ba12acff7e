import { createPrivateKey, randomUUID, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { Algorithm } from '../jose/algorithms';
import { algorithmsFor, signCompact } from '../jose/signature';

/** How tokengate authenticates to the issuer's introspection, token and revocation endpoints (RFC 7591 names). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

/**
 * The client tokengate acts as when it calls the issuer. With `clientSecret` the default method is
 * `client_secret_basic`; with `privateKey`, `private_key_jwt`; with neither, `none` (a public
 * client sends only `client_id`).
 */
export interface ClientCredentials {
  /** The client id (Okta: `0oa...`). */
  clientId: string;
  /** Authentication method. Default: from what is given, as above. */
  method?: ClientAuthMethod;
  /** Secret for `client_secret_basic` / `client_secret_post`. */
  clientSecret?: string;
  /** Private key for `private_key_jwt`: a PEM string, a JWK object, or a `KeyObject`. */
  privateKey?: string | JsonWebKey | KeyObject;
  /** `kid` of the assertion's header (Okta needs it when the client has several keys). */
  keyId?: string;
  /** Signature algorithm of the assertion. Default: RS256 for RSA keys, ES256/ES384/ES512 by curve, EdDSA for Ed25519. */
  signingAlgorithm?: string;
}

/** Validated credentials. Internal. */
export interface ResolvedClient {
  clientId: string;
  method: ClientAuthMethod;
  clientSecret: string | undefined;
  key: KeyObject | undefined;
  keyId: string | undefined;
  alg: Algorithm | undefined;
}

const METHODS: ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];
const CLIENT_KEYS = ['clientId', 'method', 'clientSecret', 'privateKey', 'keyId', 'signingAlgorithm'];

/** Validates {@link ClientCredentials}; mistakes are `TypeError`s naming `${name}.field`. */
export function resolveClient(name: string, input: unknown): ResolvedClient {
  if (input === null || typeof input !== 'object') throw new TypeError(`tokengate: option "${name}" must be an object with at least "clientId"`);
  const c = input as ClientCredentials;
  for (const key of Object.keys(c)) {
    if (!CLIENT_KEYS.includes(key)) throw new TypeError(`tokengate: unknown option "${name}.${key}"`);
  }
  if (typeof c.clientId !== 'string' || c.clientId === '') throw new TypeError(`tokengate: option "${name}.clientId" must be a non-empty string`);
  const method = c.method ?? (c.clientSecret !== undefined ? 'client_secret_basic' : c.privateKey !== undefined ? 'private_key_jwt' : 'none');
  if (!METHODS.includes(method)) throw new TypeError(`tokengate: option "${name}.method" must be one of ${METHODS.join(', ')}`);
  const needsSecret = method === 'client_secret_basic' || method === 'client_secret_post';
  if (needsSecret && (typeof c.clientSecret !== 'string' || c.clientSecret === '')) {
    throw new TypeError(`tokengate: option "${name}.clientSecret" is required for ${method}`);
  }
  let key: KeyObject | undefined;
  let alg: Algorithm | undefined;
  if (method === 'private_key_jwt') {
    if (c.privateKey === undefined) throw new TypeError(`tokengate: option "${name}.privateKey" is required for private_key_jwt`);
    try {
      key = isKeyObject(c.privateKey)
        ? c.privateKey
        : typeof c.privateKey === 'string'
          ? createPrivateKey(c.privateKey)
          : createPrivateKey({ key: c.privateKey as never, format: 'jwk' });
    } catch (error) {
      throw new TypeError(`tokengate: option "${name}.privateKey" is not a usable private key (PEM, JWK or KeyObject)`, { cause: error });
    }
    if (key.type !== 'private') throw new TypeError(`tokengate: option "${name}.privateKey" must be a private key`);
    const fitting = algorithmsFor(key);
    if (fitting.length === 0) throw new TypeError(`tokengate: option "${name}.privateKey" has an unsupported key type; use RSA, EC (P-256, P-384, P-521) or Ed25519`);
    if (c.signingAlgorithm !== undefined && !fitting.includes(c.signingAlgorithm as Algorithm)) {
      throw new TypeError(`tokengate: option "${name}.signingAlgorithm" "${String(c.signingAlgorithm)}" does not fit the private key; use one of ${fitting.join(', ')}`);
    }
    alg = (c.signingAlgorithm as Algorithm | undefined) ?? (fitting[0] === 'Ed25519' ? 'EdDSA' : fitting[0]);
  }
  return {
    clientId: c.clientId,
    method,
    clientSecret: needsSecret ? c.clientSecret : undefined,
    key,
    keyId: c.keyId ?? (typeof c.privateKey === 'object' && !isKeyObject(c.privateKey) ? (c.privateKey as { kid?: string }).kid : undefined),
    alg,
  };
}

function isKeyObject(value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && typeof (value as KeyObject).export === 'function' && 'asymmetricKeyType' in value;
}

/**
 * Adds client authentication to a form request for `endpoint`: a Basic header, form fields, or a
 * `private_key_jwt` assertion (RFC 7523: `iss` = `sub` = client id, `aud` = the endpoint, unique
 * `jti`, 60-second lifetime). `now` is milliseconds since the epoch.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export async function authenticate(
  client: ResolvedClient,
  endpoint: string,
  form: Record<string, string>,
  headers: Record<string, string>,
  now: number,
): Promise<void> {
  switch (client.method) {
    case 'client_secret_basic':
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret!)}`).toString('base64')}`;
      return;
    case 'client_secret_post':
      form.client_id = client.clientId;
      form.client_secret = client.clientSecret!;
      return;
    case 'none':
      form.client_id = client.clientId;
      return;
    case 'private_key_jwt': {
      const iat = Math.floor(now / 1000);
      form.client_id = client.clientId;
      form.client_assertion_type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
      // Signed with node:crypto: no ESM module to load, so it works under Jest with no transform.
      const header = client.keyId === undefined ? { alg: client.alg! } : { alg: client.alg!, kid: client.keyId };
      const claims = { iss: client.clientId, sub: client.clientId, aud: endpoint, jti: randomUUID(), iat, exp: iat + 60 };
      form.client_assertion = signCompact(header, claims, client.alg!, client.key!);
      return;
    }
  }
}
