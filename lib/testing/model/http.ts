/** The endpoints of the mocked Okta that can be made to fail, slowed down, rate-limited, and whose calls are counted (`ssf`: the SSF transmitter's configuration, keys and stream API). */
export type MockEndpoint = 'discovery' | 'jwks' | 'introspect' | 'sessions' | 'token' | 'revoke' | 'ssf';

/** Every {@link MockEndpoint}, for resetting the call counters. */
export const ENDPOINTS: MockEndpoint[] = ['discovery', 'jwks', 'introspect', 'sessions', 'token', 'revoke', 'ssf'];

/** One request as the model received it. */
export interface ModelRequest {
  method: string;
  /** URL path, without the query. */
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string | string[] | undefined>;
  /** The raw body (form-encoded for POSTs). */
  body: string;
}

/** A request the model answered, as kept in {@link OktaModel.requests}. */
export interface RecordedRequest extends ModelRequest {
  endpoint: MockEndpoint;
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
