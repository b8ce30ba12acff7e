import { SUPPORTED_ALGORITHMS, type Algorithm } from '../jose/algorithms';
import type { OktaEventHookOptions, ResolvedEventHook } from '../logout/event-hook';
import type { ResolvedSsfReceiver, SsfReceiverOptions } from '../logout/ssf-receiver';
import { integer, nonEmptyString, object, rejectUnknown, seconds, url } from './validate';

const SSF_KEYS = ['audience', 'transmitter', 'jwksUri', 'algorithms', 'maxAge', 'maxBytes', 'authorization', 'credentialChange'];
const HOOK_KEYS = ['secret', 'header', 'maxBytes'];
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Validates the options of `ssfReceiver()`; the transmitter defaults to the guard issuer's origin
 * (Okta's transmitter is the org). Throws a `TypeError` naming the option (`ssfReceiver.audience`...).
 */
export function resolveSsfReceiver(input: SsfReceiverOptions, issuer: string): ResolvedSsfReceiver {
  const o = object('ssfReceiver', input);
  rejectUnknown('ssfReceiver.', o, SSF_KEYS);
  const audiences = typeof o.audience === 'string' ? [o.audience] : o.audience;
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every(nonEmptyString)) {
    throw new TypeError('tokengate: option "ssfReceiver.audience" is required: the "aud" the transmitter gives this receiver\'s SETs (a string or a non-empty array of them)');
  }
  const algorithms = (o.algorithms ?? ['RS256']) as unknown[];
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((alg) => SUPPORTED_ALGORITHMS.includes(alg as Algorithm))) {
    throw new TypeError(`tokengate: option "ssfReceiver.algorithms" must be a non-empty array of ${SUPPORTED_ALGORITHMS.join(', ')}`);
  }
  if (o.authorization !== undefined && !nonEmptyString(o.authorization)) throw new TypeError('tokengate: option "ssfReceiver.authorization" must be a non-empty string');
  const credentialChange = o.credentialChange ?? 'revoke';
  if (credentialChange !== 'revoke' && credentialChange !== 'ignore' && typeof credentialChange !== 'function') {
    throw new TypeError('tokengate: option "ssfReceiver.credentialChange" must be "revoke", "ignore" or a function');
  }
  return {
    audiences: new Set(audiences),
    transmitter: o.transmitter === undefined ? new URL(issuer).origin : url('ssfReceiver.transmitter', o.transmitter, true),
    jwksUri: o.jwksUri === undefined ? undefined : url('ssfReceiver.jwksUri', o.jwksUri, false),
    algorithms: new Set(algorithms as Algorithm[]),
    maxAge: seconds('ssfReceiver.maxAge', o.maxAge, 300, 1),
    maxBytes: integer('ssfReceiver.maxBytes', o.maxBytes, 65_536, 1024),
    authorization: o.authorization as string | undefined,
    credentialChange: credentialChange as ResolvedSsfReceiver['credentialChange'],
  };
}

/** Validates the options of `oktaEventHook()`. Throws a `TypeError` naming the option. */
export function resolveEventHook(input: OktaEventHookOptions): ResolvedEventHook {
  const o = object('oktaEventHook', input);
  rejectUnknown('oktaEventHook.', o, HOOK_KEYS);
  if (!nonEmptyString(o.secret)) throw new TypeError('tokengate: option "oktaEventHook.secret" is required: the secret registered with the event hook, which Okta sends in its header');
  const header = o.header ?? 'authorization';
  if (!nonEmptyString(header) || !HEADER_NAME.test(header)) throw new TypeError('tokengate: option "oktaEventHook.header" must be an HTTP header name');
  return { secret: o.secret, header: header.toLowerCase(), maxBytes: integer('oktaEventHook.maxBytes', o.maxBytes, 1_048_576, 1024) };
}
