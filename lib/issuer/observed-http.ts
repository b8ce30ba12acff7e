import type { EventHub, UpstreamResult, UpstreamService } from '../events';
import { HttpError, type HttpClient, type HttpResponse } from './http';

/** How an answer's status is named in `upstream.call` events. */
export function resultOf(status: number): UpstreamResult {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 400 && status < 500) return 'client_error';
  if (status >= 500 && status < 600) return 'server_error';
  return 'other_status';
}

/**
 * The guard's HTTP client as one part sees it: every call is told as an `upstream.call` event of
 * `service`, while someone listens. With no listener it is one boolean check and the call itself.
 * `close()` is the guard's to call on the client it wraps, never a part's: this one has none.
 */
export function observedHttp(http: HttpClient, service: UpstreamService, clock: () => number, events: EventHub): HttpClient {
  return {
    request(req) {
      if (!events.active) return http.request(req);
      const started = clock();
      const told = (result: UpstreamResult, status: number | undefined): void => {
        events.emit({ type: 'upstream.call', service, result, status, duration: Math.max(0, clock() - started) / 1000 });
      };
      return http.request(req).then(
        (response: HttpResponse) => {
          told(resultOf(response.status), response.status);
          return response;
        },
        (error: unknown) => {
          told(error instanceof HttpError ? error.reason : 'error', undefined);
          throw error;
        },
      );
    },
  };
}
