import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { SUPPORTED_ALGORITHMS, type Algorithm } from '../../jose/algorithms';
import { signCompact as signJws, verifySignature } from '../../jose/signature';

/** A signing key of the issuer: its `kid`, algorithm, private key and public JWK (as published). */
export interface SigningKey {
  kid: string;
  alg: Algorithm;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

/**
 * The issuer's published signing keys, newest last: one per configured algorithm, more after each
 * rotation. A key it publishes never has private material it held before, so that a retired kid
 * cannot come back.
 */
export class KeyRing {
  private keys: SigningKey[] = [];
  private readonly everUsed = new Set<KeyObject>();

  constructor(readonly algorithms: readonly Algorithm[]) {
    for (const alg of algorithms) this.keys.push(this.freshKey(alg));
  }

  /** Key ids currently published, newest last. */
  get kids(): string[] {
    return this.keys.map((k) => k.kid);
  }

  /** The JWK set as published (public keys only). */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return { keys: this.keys.map((k) => ({ ...k.jwk })) };
  }

  /** The newest published key, of any algorithm: it signs ID and logout tokens. */
  newest(): SigningKey {
    return this.keys[this.keys.length - 1];
  }

  /** The newest published key of `alg`, or `undefined` when none is. */
  newestFor(alg: Algorithm): SigningKey | undefined {
    return [...this.keys].reverse().find((k) => k.alg === alg);
  }

  /**
   * The claims of a compact JWS signed by a key this ring publishes now (found by `kid`, used with
   * its own algorithm), or `undefined` when it is not one. Times are not checked.
   */
  verify(token: string): Record<string, unknown> | undefined {
    const [h, p, s, extra] = token.split('.');
    if (s === undefined || extra !== undefined) return undefined;
    try {
      const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
      const key = this.keys.find((k) => k.kid === header.kid && k.alg === header.alg);
      if (key === undefined || !verifySignature(key.alg, createPublicKey(key.privateKey), `${h}.${p}`, Buffer.from(s, 'base64url'))) return undefined;
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as unknown;
      return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Publishes a new key for every algorithm; the old keys stay published unless `removeOld` is set. */
  rotate(removeOld: boolean | undefined): void {
    const fresh = this.algorithms.map((alg) => this.freshKey(alg));
    this.keys = removeOld ? fresh : [...this.keys, ...fresh];
  }

  /** A key whose private material this ring has never held. */
  private freshKey(alg: Algorithm): SigningKey {
    for (let i = 0; i < POOL_SIZE; i++) {
      const key = newKey(alg);
      if (!this.everUsed.has(key.privateKey)) {
        this.everUsed.add(key.privateKey);
        return key;
      }
    }
    const key = newKey(alg, true);
    this.everUsed.add(key.privateKey);
    return key;
  }
}

const pool = new Map<Algorithm, KeyObject[]>();
const used = new Map<Algorithm, number>();

const POOL_SIZE = 8;

/**
 * A signing key with a fresh `kid`. Private keys come round-robin from a small pool generated once
 * per process, to keep test suites fast; `unique` generates one that is in no pool.
 */
export function newKey(alg: Algorithm, unique = false): SigningKey {
  const keys = pool.get(alg) ?? [];
  pool.set(alg, keys);
  const index = used.get(alg) ?? 0;
  used.set(alg, index + 1);
  if (keys.length < POOL_SIZE && !unique) keys.push(createKeyPair(alg).privateKey);
  const privateKey = unique ? createKeyPair(alg).privateKey : keys[index % keys.length];
  const kid = randomBytes(16).toString('base64url');
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...jwk } = privateKey.export({ format: 'jwk' });
  return { kid, alg, privateKey, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** Options of {@link createKeyPair}. */
export interface KeyPairOptions {
  /** RSA modulus in bits, for `RS*` and `PS*` only (default 2048). Smaller keys are for tests of their refusal. */
  modulusLength?: number;
}

const CURVES: Partial<Record<Algorithm, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

/**
 * A new key pair for an algorithm (default `RS256`): client keys for `private_key_jwt` (trust the
 * public one with `okta.trustClientKey()`), a service app's key for the Sessions API, an attacker's
 * key. Use it rather than `generateKeyPairSync` in tests on Node 20: the keys are generated as PEM
 * and parsed into KeyObjects of their own. A KeyObject straight from the generator shares its lock
 * with the generation job, and a garbage collection that finalizes the job while the key is being
 * exported as a JWK (which holds the lock and allocates) deadlocks the process.
 *
 * Throws a `TypeError` for an algorithm tokengate does not support, and for `modulusLength` with a
 * non-RSA algorithm.
 */
export function createKeyPair(alg: Algorithm = 'RS256', options: KeyPairOptions = {}): { privateKey: KeyObject; publicKey: KeyObject } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  let pem: { privateKey: string; publicKey: string };
  const rsa = /^(RS|PS)(256|384|512)$/.test(alg);
  if (options.modulusLength !== undefined && !rsa) {
    throw new TypeError(`tokengate/testing: createKeyPair() option "modulusLength" is for RSA algorithms (RS*, PS*), not ${JSON.stringify(alg)}`);
  }
  if (rsa) {
    pem = generateKeyPairSync('rsa', { modulusLength: options.modulusLength ?? 2048, publicKeyEncoding, privateKeyEncoding });
  } else if (CURVES[alg] !== undefined) {
    pem = generateKeyPairSync('ec', { namedCurve: CURVES[alg], publicKeyEncoding, privateKeyEncoding });
  } else if (alg === 'EdDSA' || alg === 'Ed25519') {
    pem = generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
  } else {
    throw new TypeError(`tokengate/testing: createKeyPair() does not know the algorithm ${JSON.stringify(alg)} (one of ${SUPPORTED_ALGORITHMS.join(', ')})`);
  }
  return { privateKey: createPrivateKey(pem.privateKey), publicKey: createPublicKey(pem.publicKey) };
}

/** Signs a compact JWS with `node:crypto`. Exported for tests that craft tokens by hand. */
export function signCompact(header: Record<string, unknown>, payload: Record<string, unknown>, alg: Algorithm, privateKey: KeyObject | string): string {
  return signJws(header, payload, alg, typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey);
}
