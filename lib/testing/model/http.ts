import { randomBytes } from 'node:crypto';

/** The endpoints of the mocked Okta that can be made to fail, slowed down, rate-limited, and whose calls are counted (`ssf`: the SSF transmitter's configuration, keys and stream API). */
export type MockEndpoint = 'discovery' | 'jwks' | 'introspect' | 'sessions' | 'token' | 'revoke' | 'logout' | 'ssf';

/** Every {@link MockEndpoint}, for resetting the call counters. */
export const ENDPOINTS: MockEndpoint[] = ['discovery', 'jwks', 'introspect', 'sessions', 'token', 'revoke', 'logout', 'ssf'];

/** One request as the model received it. */
export interface ModelRequest {
  method: string;
  /** URL path, without the query. */
  path: string;
  /** The query string, without the `?`. Default: none. */
  query?: string;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body (form-encoded for POSTs). */
  body: string;
}

/** A request the model answered, as kept in {@link OktaModel.requests}. */
export interface RecordedRequest extends ModelRequest {
  endpoint: MockEndpoint;
  /** The `X-Okta-Request-Id` the answer carried. */
  requestId: string;
}

/** A response the model wants sent. `error` means the connection fails; `delay` is in milliseconds. */
export interface ModelResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  delay?: number;
  error?: Error;
}

/** A JSON answer with `status`; `headers` are added to the `content-type`. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): ModelResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/**
 * An Okta API error answer (`errorCode`, `errorSummary`, `errorLink`, `errorId`, `errorCauses`),
 * as the management APIs send it; the SDKs read every field.
 * @see https://developer.okta.com/docs/reference/error-codes/
 */
export function oktaError(status: number, errorCode: string, errorSummary: string, headers: Record<string, string> = {}): ModelResponse {
  return json(status, { errorCode, errorSummary, errorLink: errorCode, errorId: `oae${randomBytes(16).toString('base64url')}`, errorCauses: [] }, headers);
}

/** A fresh `X-Okta-Request-Id`: 27 URL-safe characters, like Okta's. */
export function requestId(): string {
  return randomBytes(20).toString('base64url').slice(0, 27);
}
