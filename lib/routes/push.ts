import { AuthError, errorAnswer, EventHookError, SecurityEventError } from '../errors';
import type { Guard } from '../guard/types';
import type { OktaEventHookOptions } from '../logout/event-hook';
import type { SsfReceiverOptions } from '../logout/ssf-receiver';
import { readText, type BodyRequest } from './body';
import type { Answer } from './routes';

/** A ready-made push route: built once at mount, then called for each request. */
export type PushRoute = (request: BodyRequest, parsed?: unknown) => Promise<Answer>;

const mediaType = (request: BodyRequest): string => String(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
const header = (request: BodyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
};

/**
 * The SSF receiver route (RFC 8935 push delivery): `POST` with `Content-Type:
 * application/secevent+jwt` and the SET as the body. Answers 202 (empty) once the SET is verified
 * and applied (or was applied before); 400 with `{ "err", "description" }` and an RFC 8935 error
 * code when the SET is refused; 405 (not a POST, with `Allow: POST`), 413 (over `maxBytes`) and 415
 * (another content type) with the same body; 503 with `Retry-After` when the transmitter's keys
 * cannot be had or the shared store did not take an entry, so the transmitter delivers it again.
 * Options are validated here, at mount (see {@link SsfReceiverOptions}).
 *
 * @example
 * const receive = ssfReceiver(guard, { audience: 'https://api.example.com/ssf' });
 * http.createServer(async (req, res) => {
 *   const { status, headers, body } = await receive(req);
 *   res.writeHead(status, headers).end(body === undefined ? undefined : JSON.stringify(body));
 * });
 * @see https://www.rfc-editor.org/rfc/rfc8935#section-2
 */
export function ssfReceiver(guard: Guard, options: SsfReceiverOptions): PushRoute {
  const receiver = guard.ssfReceiver(options);
  const { maxBytes } = receiver.options;
  return async (request, parsed): Promise<Answer> => {
    try {
      if (request.method !== 'POST') throw new SecurityEventError('invalid_request', 'A SET is delivered with POST', 405);
      if (mediaType(request) !== 'application/secevent+jwt') throw new SecurityEventError('invalid_request', 'A SET is delivered as application/secevent+jwt', 415);
      const text = await readText(request, parsed, maxBytes, () => new SecurityEventError('invalid_request', `The SET is over ${maxBytes} bytes`, 413));
      if (text === undefined) throw new SecurityEventError('invalid_request', 'The request body is not a SET', 415);
      await receiver.receive(text.trim(), header(request, 'authorization'));
      return { status: 202, headers: {} };
    } catch (error) {
      if (error instanceof SecurityEventError) {
        receiver.refused(error.status, error.message, error.err);
        const headers: Record<string, string> = { 'cache-control': 'no-store' };
        if (error.status === 405) headers.allow = 'POST';
        return { status: error.status, headers, body: { err: error.err, description: error.message } };
      }
      if (error instanceof AuthError) return errorAnswer(error);
      throw error;
    }
  };
}

/**
 * The Okta Event Hooks route: the one-time verification `GET` (answered `{ "verification": "..." }`
 * with the `X-Okta-Verification-Challenge` value) and the `POST` deliveries (a JSON body with
 * `data.events`), both authenticated by the secret header. A delivery is answered 200 (empty) once
 * its events are applied (an event delivered again changes nothing, and gets 200 too); 400 (not JSON,
 * not a delivery), 401 (the secret is missing or wrong), 405 (another method, with `Allow: GET,
 * POST`) and 413 (over `maxBytes`) with `{ error, error_description }`, which Okta does not retry; 503
 * with `Retry-After` when the shared store did not take an entry, which Okta retries. Options are
 * validated here, at mount (see {@link OktaEventHookOptions}). Mount it for both GET and POST.
 * @see https://developer.okta.com/docs/concepts/event-hooks/
 */
export function oktaEventHook(guard: Guard, options: OktaEventHookOptions): PushRoute {
  const receiver = guard.oktaEventHook(options);
  const { maxBytes } = receiver.options;
  return async (request, parsed): Promise<Answer> => {
    try {
      if (request.method !== 'GET' && request.method !== 'POST') throw new EventHookError(405, 'Okta sends GET (verification) and POST (events)');
      receiver.authenticate(request.headers);
      if (request.method === 'GET') return { status: 200, headers: { 'cache-control': 'no-store' }, body: receiver.verification(request.headers) };
      const text = await readText(request, parsed, maxBytes, () => new EventHookError(413, `The delivery is over ${maxBytes} bytes`));
      let body: unknown = parsed ?? request.body;
      if (text !== undefined) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new EventHookError(400, 'The delivery is not JSON');
        }
      }
      await receiver.receive(body);
      return { status: 200, headers: {} };
    } catch (error) {
      if (error instanceof EventHookError) {
        receiver.refused(error.status, error.message);
        const headers: Record<string, string> = { 'cache-control': 'no-store' };
        if (error.status === 405) headers.allow = 'GET, POST';
        return { status: error.status, headers, body: { error: error.status === 401 ? 'unauthorized' : 'invalid_request', error_description: error.message } };
      }
      if (error instanceof AuthError) return errorAnswer(error);
      throw error;
    }
  };
}
