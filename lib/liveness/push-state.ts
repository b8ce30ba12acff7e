import { emit, type TokengateEvent } from '../events';

/** The most `sessions.cacheTtl` may be, in seconds, when session ends do not arrive by push. */
export const UNPUSHED_MAX_TTL = 300;

/** What an SSF stream-updated event says of the stream. */
export type StreamStatus = 'enabled' | 'paused' | 'disabled';

/**
 * Whether session ends reach this guard by push, which is what lets `sessions.pushed` cache Sessions
 * API answers for long: a push receiver is mounted on the guard (the receivers count themselves in
 * when they are built), and the SSF transmitter has not said its stream is paused or disabled.
 * Reports each change to "cannot be relied on" once, as `push.degraded`.
 */
export class PushState {
  private receivers = 0;
  private stream: StreamStatus = 'enabled';
  private reported: string | undefined;

  constructor(private readonly onEvent: ((event: TokengateEvent) => void) | undefined) {}

  /** A receiver was built for this guard. */
  mounted(): void {
    this.receivers++;
  }

  /** The SSF transmitter changed the stream's status. */
  streamStatus(status: StreamStatus): void {
    this.stream = status;
  }

  /** Whether pushes can be relied on now; the first time they cannot (again), `push.degraded` is sent. */
  live(): boolean {
    const reason = this.receivers === 0 ? 'no receiver' : this.stream === 'enabled' ? undefined : (`stream ${this.stream}` as const);
    if (reason !== this.reported) {
      this.reported = reason;
      if (reason !== undefined) emit(this.onEvent, { type: 'push.degraded', reason });
    }
    return reason === undefined;
  }
}
