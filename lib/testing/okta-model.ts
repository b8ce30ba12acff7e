import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, sign, constants, type KeyObject } from 'node:crypto';
import type { Algorithm } from '../options';

/** The endpoints of the mocked Okta that can be made to fail and whose calls are counted. */
export type MockEndpoint = 'discovery' | 'jwks';

/** How an endpoint fails: connection refused, no answer in time, an HTTP status, or a body that is not JSON. */
export type FailureMode = 'down' | 'slow' | 'garbage' | number;

/** A response the model wants sent. `error` means the connection fails; `delay` is in milliseconds. */
export interface ModelResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  delay?: number;
  error?: Error;
}

/** Options of the Okta model shared by {@link mockOkta} and later transports. */
export interface OktaModelOptions {
  /** Issuer URL. Default: a fresh `https://dev-NNNNNN.okta.com/oauth2/default`. */
  issuer?: string;
  /** Default `aud` of minted tokens. Default `'api://default'`. */
  audience?: string;
  /** Default `cid` of minted tokens. Default: a fresh `0oa...` id. */
  clientId?: string;
  /** One published signing key per algorithm. Default `['RS256']`. */
  algorithms?: readonly Algorithm[];
  /** `Cache-Control: max-age` of the JWKS response, in seconds. Default 3600. */
  jwksMaxAge?: number;
  /** Clock for minted `iat`/`exp`, milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

/** Options of {@link OktaModel.token}. */
export interface TokenOptions {
  /** Sign with the newest published key of this algorithm. Default: the first configured algorithm. */
  alg?: Algorithm;
  /** Lifetime in seconds (sets `exp` = `iat` + this). Default 3600. */
  expiresIn?: number;
  /** Header fields to set or, with `undefined`, remove (`kid`, `typ`, even `alg`: the signature then uses the key's real algorithm). */
  header?: Record<string, unknown>;
  /** Sign with a fresh key that is not in the JWKS (same `kid` as the published one unless `header.kid` says otherwise). */
  unpublishedKey?: boolean;
}

interface SigningKey {
  kid: string;
  alg: Algorithm;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

/** A failure set on an endpoint, with how many more requests it affects. */
interface Failure {
  mode: FailureMode;
  remaining: number;
  delay: number;
}

/**
 * The state of a mocked Okta custom authorization server: keys, failures and call counts, and a
 * pure `handle()` that answers one HTTP request. Transports (nock in {@link mockOkta}) only carry
 * requests to it.
 */
export class OktaModel {
  readonly issuer: string;
  readonly audience: string;
  readonly clientId: string;
  readonly jwksUri: string;
  readonly calls: Record<MockEndpoint, number> = { discovery: 0, jwks: 0 };
  private keys: SigningKey[] = [];
  private readonly algorithms: readonly Algorithm[];
  private readonly failures = new Map<MockEndpoint, Failure>();
  private readonly jwksMaxAge: number;
  private readonly clock: () => number;

  constructor(options: OktaModelOptions = {}) {
    this.issuer = options.issuer ?? `https://dev-${100000 + Math.floor(Math.random() * 900000)}.okta.com/oauth2/default`;
    this.audience = options.audience ?? 'api://default';
    this.clientId = options.clientId ?? `0oa${randomBytes(8).toString('hex')}`;
    this.algorithms = options.algorithms ?? ['RS256'];
    this.jwksMaxAge = options.jwksMaxAge ?? 3600;
    this.clock = options.clock ?? Date.now;
    this.jwksUri = `${this.issuer.replace(/\/$/, '')}/v1/keys`;
    for (const alg of this.algorithms) this.keys.push(newKey(alg));
  }

  /** Key ids currently published, newest last. */
  get kids(): string[] {
    return this.keys.map((k) => k.kid);
  }

  /** The JWK set as published (public keys only). */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return { keys: this.keys.map((k) => ({ ...k.jwk })) };
  }

  /**
   * Mints a signed access token shaped like Okta's (`ver, jti, iss, aud, iat, exp, cid, uid, scp,
   * auth_time, sub`). `claims` override the defaults; a claim set to `undefined` is left out.
   */
  token(claims: Record<string, unknown> = {}, options: TokenOptions = {}): string {
    const alg = options.alg ?? this.algorithms[0];
    const published = [...this.keys].reverse().find((k) => k.alg === alg);
    if (published === undefined) throw new TypeError(`mockOkta: no published key for ${alg}; pass it in "algorithms"`);
    const key = options.unpublishedKey ? { ...newKey(alg), kid: published.kid } : published;
    const now = Math.floor(this.clock() / 1000);
    const payload = strip({
      ver: 1,
      jti: `AT.${randomUUID()}`,
      iss: this.issuer,
      aud: this.audience,
      iat: now,
      exp: now + (options.expiresIn ?? 3600),
      cid: this.clientId,
      uid: '00u1a2b3c4d5e6f7g8h9',
      scp: ['openid', 'profile'],
      auth_time: now,
      sub: 'alice@example.com',
      ...claims,
    });
    const header = strip({ kid: key.kid, alg: key.alg, ...options.header });
    return signCompact(header, payload, key.alg, key.privateKey);
  }

  /**
   * Publishes a new key for every algorithm and signs with it from now on. The old keys stay
   * published unless `removeOld` is set, as after Okta's own rotation.
   */
  rotateKeys(options: { removeOld?: boolean } = {}): void {
    const fresh = this.algorithms.map(newKey);
    this.keys = options.removeOld ? fresh : [...this.keys, ...fresh];
  }

  /** Makes an endpoint fail, for `times` requests (default: until {@link OktaModel.recover}). `delay` (ms) is how long `'slow'` waits; default 30000. */
  fail(endpoint: MockEndpoint, mode: FailureMode, options: { times?: number; delay?: number } = {}): void {
    this.failures.set(endpoint, { mode, remaining: options.times ?? Infinity, delay: options.delay ?? 30_000 });
  }

  /** Ends the failure of one endpoint, or of all. */
  recover(endpoint?: MockEndpoint): void {
    if (endpoint === undefined) this.failures.clear();
    else this.failures.delete(endpoint);
  }

  /** Sets every call counter back to zero. */
  resetCalls(): void {
    for (const name of Object.keys(this.calls) as MockEndpoint[]) this.calls[name] = 0;
  }

  /** The discovery document, as Okta's custom authorization servers publish it. */
  metadata(): Record<string, unknown> {
    const base = this.issuer.replace(/\/$/, '');
    return {
      issuer: this.issuer,
      authorization_endpoint: `${base}/v1/authorize`,
      token_endpoint: `${base}/v1/token`,
      jwks_uri: this.jwksUri,
      introspection_endpoint: `${base}/v1/introspect`,
      revocation_endpoint: `${base}/v1/revoke`,
      end_session_endpoint: `${base}/v1/logout`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      id_token_signing_alg_values_supported: [...this.algorithms],
    };
  }

  /** Answers one request; `path` is the URL path (no query), relative to the host. */
  handle(method: string, path: string): ModelResponse {
    const issuerPath = new URL(this.issuer).pathname.replace(/\/$/, '');
    const endpoint = this.route(method, path, issuerPath);
    if (endpoint === undefined) return json(404, { errorCode: 'E0000022', errorSummary: 'The endpoint does not exist.' });
    this.calls[endpoint]++;
    const failure = this.failures.get(endpoint);
    if (failure !== undefined) {
      if (--failure.remaining <= 0) this.failures.delete(endpoint);
      return failed(failure);
    }
    if (endpoint === 'discovery') return json(200, this.metadata());
    return json(200, this.jwks(), { 'cache-control': `max-age=${this.jwksMaxAge}, must-revalidate` });
  }

  private route(method: string, path: string, issuerPath: string): MockEndpoint | undefined {
    if (method !== 'GET') return undefined;
    if (
      path === `${issuerPath}/.well-known/openid-configuration` ||
      path === `${issuerPath}/.well-known/oauth-authorization-server` ||
      path === `/.well-known/oauth-authorization-server${issuerPath}`
    ) {
      return 'discovery';
    }
    if (path === new URL(this.jwksUri).pathname) return 'jwks';
    return undefined;
  }
}

function failed(failure: Failure): ModelResponse {
  switch (failure.mode) {
    case 'down':
      return { status: 0, headers: {}, body: '', error: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) };
    case 'slow':
      return { ...json(200, {}), delay: failure.delay };
    case 'garbage':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: '<html>Service Unavailable</html>' };
    default:
      return json(failure.mode, { errorCode: 'E0000009', errorSummary: 'Internal Server Error' });
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): ModelResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function strip(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

const pool = new Map<Algorithm, KeyObject[]>();
const used = new Map<Algorithm, number>();

/** A fresh signing key. Private keys come from a small pool generated once per process, to keep test suites fast; every key gets a fresh `kid`. */
function newKey(alg: Algorithm): SigningKey {
  const keys = pool.get(alg) ?? [];
  pool.set(alg, keys);
  const index = used.get(alg) ?? 0;
  used.set(alg, index + 1);
  if (keys.length < 8) keys.push(generate(alg));
  const privateKey = keys[index % keys.length];
  const kid = randomBytes(16).toString('base64url');
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...jwk } = privateKey.export({ format: 'jwk' });
  return { kid, alg, privateKey, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

function generate(alg: Algorithm): KeyObject {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  if (alg === 'ES384') return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  if (alg === 'ES512') return generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
  return generateKeyPairSync('ed25519').privateKey;
}

/** Signs a compact JWS with `node:crypto`. Exported for tests that craft tokens by hand. */
export function signCompact(header: Record<string, unknown>, payload: Record<string, unknown>, alg: Algorithm, privateKey: KeyObject | string): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  const hash = alg === 'EdDSA' || alg === 'Ed25519' ? null : `sha${alg.slice(2)}`;
  let signature: Buffer;
  if (alg.startsWith('ES')) signature = sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else if (alg.startsWith('PS')) signature = sign(hash, Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else signature = sign(hash, Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64url');
}
