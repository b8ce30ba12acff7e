import { getRandomValues } from 'node:crypto';
import { TokenAnomalyError } from '../errors';
import type { EventListener } from '../events';
import { printable } from '../util/claims';
import type { RequestLike } from '../util/request';
import { ClientTable, CROSSED, WITHIN } from './client-table';
import type { AuthResult } from './result';

/**
 * Options of the token-replay detector (the `anomaly` guard option): one token presented by more
 * than `maxClients` distinct clients within `window` seconds emits a `token.anomaly` event, and is
 * refused (401 `ERR_TOKEN_ANOMALY`) on routes whose policy says `onAnomaly: 'refuse'`.
 *
 * Does NOT see tokens checked with `verifyToken()` (no request, so no client), nor a token refused
 * before its signature was verified (a forged token cannot fill the table).
 *
 * @example
 * createGuard({ issuer, audience, anomaly: { maxClients: 3, window: 300, trustProxy: 1 }, policy: { onAnomaly: 'refuse' } });
 */
export interface AnomalyOptions {
  /** Most distinct clients one token may be presented by within `window`; one more is an anomaly. Default 3; 1 to 32. */
  maxClients?: number;
  /** The sliding window, in seconds (to a tenth). Default 300; 1 to 86400. */
  window?: number;
  /** What tells clients apart: `'address'` (default) or `'userAgent'` (the `User-Agent` header). */
  by?: 'address' | 'userAgent';
  /**
   * Proxies in front of the service, hops: the client address is the `X-Forwarded-For` entry that
   * many hops left of the socket's address (1: the last entry, as one load balancer writes it).
   * Default 0: the socket's address, and `X-Forwarded-For` (which any client can set) is never read.
   */
  trustProxy?: number;
  /** Your own way to read a request's client address (instead of `trustProxy`); `undefined` leaves the request uncounted. */
  clientAddress?: (request: RequestLike) => string | undefined;
  /** Tokens tracked at once; past it the one seen least recently in its bucket loses its place. Default 10000. */
  max?: number;
}

/** Validated anomaly options. Internal. */
export interface ResolvedAnomaly {
  maxClients: number;
  window: number;
  by: 'address' | 'userAgent';
  trustProxy: number;
  clientAddress: ((request: RequestLike) => string | undefined) | undefined;
  max: number;
}

/** How many characters of a token's end key it when it has no `jti` (as the verified-token cache keys it). */
const KEY_CHARS = 43;

/**
 * The client address of a request: the socket's, or with `trustProxy` hops the `X-Forwarded-For`
 * entry that many hops before it (the leftmost when the header has fewer).
 */
export function clientAddressOf(request: RequestLike, trustProxy: number): string | undefined {
  const socket = request.socket?.remoteAddress;
  if (trustProxy === 0) return socket;
  const header = request.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  const hops = socket === undefined ? forwarded : [...forwarded, socket];
  return hops.length === 0 ? undefined : hops[Math.max(0, hops.length - 1 - trustProxy)];
}

/** The detector of one guard: a {@link ClientTable}, and what the route's `onAnomaly` makes of its answer. */
export class AnomalyDetector {
  private readonly table: ClientTable;
  /** Crossings of the limit seen (`token.anomaly` events). */
  detected = 0;

  constructor(
    private readonly options: ResolvedAnomaly,
    private readonly clock: () => number,
    private readonly onEvent: EventListener,
  ) {
    const seeds = getRandomValues(new Int32Array(3));
    this.table = new ClientTable(options.max, options.maxClients, options.window, clock(), seeds);
  }

  /** Entries that lost their place while their window was open (see {@link ClientTable}). */
  get evicted(): number {
    return this.table.evicted;
  }

  /**
   * Notes a verified token's presentation by the request's client; throws {@link TokenAnomalyError}
   * when the token is past the limit and `refuse` (the route's `onAnomaly: 'refuse'`).
   */
  observe(request: RequestLike, auth: AuthResult, refuse: boolean): void {
    const client = this.clientOf(request);
    if (typeof client !== 'string' || client.length === 0) return;
    const jti = auth.claims.jti;
    const key = typeof jti === 'string' && jti.length > 0 && jti.length <= 256 ? jti : auth.token.slice(-KEY_CHARS);
    const found = this.table.record(key, client, this.clock());
    if (found === WITHIN) return;
    const { maxClients, window, by } = this.options;
    if (found === CROSSED) {
      this.detected++;
      this.onEvent({
        type: 'token.anomaly',
        by,
        clients: maxClients + 1,
        window,
        action: refuse ? 'refused' : 'reported',
        client: printable(client),
        subject: auth.subject,
        jti: typeof jti === 'string' ? printable(jti) : undefined,
      });
    }
    if (refuse) {
      throw new TokenAnomalyError(`The token was presented by more than ${maxClients} different clients within ${window} s and may have been copied; sign in again`);
    }
  }

  private clientOf(request: RequestLike): string | undefined {
    const { by, clientAddress, trustProxy } = this.options;
    if (by === 'userAgent') {
      const agent = request.headers['user-agent'];
      return Array.isArray(agent) ? agent[0] : agent;
    }
    return clientAddress === undefined ? clientAddressOf(request, trustProxy) : clientAddress(request);
  }
}
