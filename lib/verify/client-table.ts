/** Entries per bucket: a token competes for a place with the tokens of its bucket only. */
const WAYS = 4;
/** The table's unit of time, ms: windows are measured to a tenth of a second. */
const TICK = 100;

/** {@link ClientTable.record}: the token's distinct clients are within the limit. */
export const WITHIN = 0;
/** {@link ClientTable.record}: past the limit, as already told. */
export const OVER = 1;
/** {@link ClientTable.record}: past the limit from this presentation on (tell it). */
export const CROSSED = 2;

/**
 * Distinct clients per token over a sliding window, in a fixed amount of memory: a table of `max`
 * tokens (rounded up to a multiple of 4), set-associative (4 entries per bucket), each entry holding
 * a 63-bit fingerprint of its token and the last sighting of at most `limit + 1` clients (31-bit
 * fingerprints). Nothing grows with the traffic: about `12 + 8 × (limit + 1)` bytes per entry, off
 * the JS heap.
 *
 * It answers one question exactly, up to the limit: were more than `limit` distinct clients seen
 * within the last `window` (to 0.1 s)? The errors, all of them bounded:
 * - Two clients whose fingerprints collide count as one (a missed anomaly): for one token, at most
 *   `(limit + 1) × limit / 2` pairs out of 2^31, about 3·10^-9 with `limit` 3.
 * - Two tokens whose fingerprints collide share an entry (a false anomaly, if their clients together
 *   pass the limit): about `n² / 2^64` for `n` tokens tracked at once, ~10^-11 for 10^4.
 * - A token whose bucket is full of tokens seen more recently takes the place of the one seen least
 *   recently, whose count is lost (a missed anomaly, never a false one); `evicted` counts the entries
 *   lost while their window was still open: when it grows, raise `max`.
 * Fingerprints are seeded per table with random values, so collisions cannot be aimed at.
 */
export class ClientTable {
  private readonly keyA: Int32Array;
  private readonly keyB: Int32Array;
  /** Last presentation of each entry's token, ticks since `epoch`. */
  private readonly lastSeen: Int32Array;
  /** 1 while the entry's clients are past the limit (the crossing was told). */
  private readonly over: Uint8Array;
  /** `capacity` client fingerprints per entry (0: none), and when each was last seen. */
  private readonly clients: Int32Array;
  private readonly clientSeen: Int32Array;
  private readonly buckets: number;
  private readonly capacity: number;
  private readonly windowTicks: number;
  private readonly epoch: number;
  private readonly seeds: Int32Array;
  /** Entries that lost their place while their window was still open. */
  evicted = 0;

  constructor(max: number, private readonly limit: number, windowSeconds: number, now: number, seeds: Int32Array) {
    this.buckets = Math.ceil(max / WAYS);
    const entries = this.buckets * WAYS;
    this.capacity = limit + 1;
    this.keyA = new Int32Array(entries);
    this.keyB = new Int32Array(entries);
    this.lastSeen = new Int32Array(entries);
    this.over = new Uint8Array(entries);
    this.clients = new Int32Array(entries * this.capacity);
    this.clientSeen = new Int32Array(entries * this.capacity);
    this.windowTicks = Math.max(1, Math.round((windowSeconds * 1000) / TICK));
    this.epoch = now;
    this.seeds = seeds;
  }

  /**
   * Records that a token (by its key: a `jti`, or the end of its signature) was presented by a
   * client at `nowMs`. Returns {@link WITHIN}, {@link OVER} or {@link CROSSED}.
   */
  record(tokenKey: string, client: string, nowMs: number): number {
    const seeds = this.seeds;
    const a = fingerprint(tokenKey, seeds[0]) | 1;
    const b = fingerprint(tokenKey, seeds[1]);
    const c = fingerprint(client, seeds[2]) | 1;
    const now = Math.floor((nowMs - this.epoch) / TICK);
    const slot = this.entryFor(a, b, now);
    this.lastSeen[slot] = now;
    const live = this.sighting(slot * this.capacity, c, now);
    if (live <= this.limit) {
      this.over[slot] = 0;
      return WITHIN;
    }
    if (this.over[slot] === 1) return OVER;
    this.over[slot] = 1;
    return CROSSED;
  }

  /** The entry of a token: its own, else an empty one of its bucket, else the one seen least recently (its count is lost). */
  private entryFor(a: number, b: number, now: number): number {
    const base = ((b >>> 0) % this.buckets) * WAYS;
    let victim = base;
    let victimSeen = Infinity;
    for (let i = base; i < base + WAYS; i++) {
      if (this.keyA[i] === a && this.keyB[i] === b) return i;
      const seen = this.keyA[i] === 0 ? -Infinity : this.lastSeen[i];
      if (seen < victimSeen) {
        victim = i;
        victimSeen = seen;
      }
    }
    if (this.keyA[victim] !== 0 && now - this.lastSeen[victim] < this.windowTicks) this.evicted++;
    this.keyA[victim] = a;
    this.keyB[victim] = b;
    this.over[victim] = 0;
    this.clients.fill(0, victim * this.capacity, (victim + 1) * this.capacity);
    return victim;
  }

  /** Notes a client of the entry whose clients start at `base`; returns how many distinct clients it has within the window. */
  private sighting(base: number, c: number, now: number): number {
    const { clients, clientSeen, windowTicks } = this;
    let live = 0;
    let found = -1;
    let free = -1;
    let stalest = base;
    for (let k = base; k < base + this.capacity; k++) {
      if (clients[k] === c) {
        found = k;
      } else if (clients[k] === 0 || now - clientSeen[k] >= windowTicks) {
        if (free < 0) free = k;
      } else {
        live++;
        if (clientSeen[k] < clientSeen[stalest]) stalest = k;
      }
    }
    // Every place taken by clients still in the window: the stalest makes room (the count stays past the limit).
    const at = found >= 0 ? found : free >= 0 ? free : stalest;
    if (found >= 0 || free >= 0) live++;
    clients[at] = c;
    clientSeen[at] = now;
    return live;
  }
}

/** A seeded 32-bit hash of a string (FNV-1a steps, murmur3's finaliser), over at most its first 256 characters. */
function fingerprint(text: string, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  const end = Math.min(text.length, 256);
  for (let i = 0; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
