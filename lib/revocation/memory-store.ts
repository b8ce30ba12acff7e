import type { RevocationEntry, RevocationStore } from './denylist';

/**
 * A {@link RevocationStore} shared by the guards of one process (several APIs in one service, tests,
 * demos): a logout seen by one guard is enforced by all. Across processes, use `tokengate/redis`.
 */
export function memoryRevocationStore(clock: () => number = Date.now): RevocationStore {
  const entries = new Map<string, RevocationEntry>();
  const listeners = new Set<(entry: RevocationEntry) => void>();
  const claimed = new Map<string, number>();
  return {
    async add(entry) {
      const key = `${entry.kind}:${entry.value}`;
      const known = entries.get(key);
      // Merged, as the mirror does: a late write of an older entry never narrows a newer one.
      entries.set(key, known === undefined ? entry : { ...entry, at: Math.max(known.at, entry.at), until: Math.max(known.until, entry.until) });
      for (const listener of listeners) listener(entry);
    },
    async load() {
      const now = clock();
      return [...entries.values()].filter((entry) => entry.until > now);
    },
    async subscribe(onEntry) {
      listeners.add(onEntry);
    },
    async close() {
      // The entries outlive one guard: other guards may still share them.
    },
    async claimOnce(id, until) {
      const now = clock();
      for (const [known, end] of claimed) if (end <= now) claimed.delete(known);
      if (claimed.has(id)) return false;
      claimed.set(id, until);
      return true;
    },
  };
}
