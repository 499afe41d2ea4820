/**
 * Sliding windows of events by key (a person, a session), in event time, that fire on the
 * way up: when a key's count reaches the threshold, once, and again only after it has
 * fallen below. So a burst is one incident however long it goes on, and a replay of the
 * same events ends in the same state.
 */
export interface Hit {
  seq: number;
  time: number;
  /** What the event adds to the window's distinct values (a resource id), if anything. */
  value?: string;
  /** The resource the event was about, if any. */
  resource?: string | null;
}

interface Entry {
  hits: Hit[];
  firing: boolean;
}

export class Windows {
  private readonly entries = new Map<string, Entry>();
  private adds = 0;

  constructor(private readonly windowMs: number) {}

  /**
   * Adds a hit and returns the hits in the window when this one brings the count (of hits,
   * or of distinct values when `distinct`) to `threshold` while not already firing; else null.
   */
  add(key: string, hit: Hit, threshold: number, distinct = false): Hit[] | null {
    if (++this.adds % 10_000 === 0) this.prune(hit.time);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { hits: [], firing: false };
      this.entries.set(key, entry);
    }
    entry.hits.push(hit);
    const from = hit.time - this.windowMs;
    let drop = 0;
    while (drop < entry.hits.length && entry.hits[drop]!.time <= from) drop++;
    if (drop > 0) entry.hits.splice(0, drop);
    const count = distinct ? new Set(entry.hits.map((h) => h.value)).size : entry.hits.length;
    if (count < threshold) {
      entry.firing = false;
      return null;
    }
    if (entry.firing) return null;
    entry.firing = true;
    return [...entry.hits];
  }

  /** Forgets keys with nothing left in their window: memory stays bounded by what is recent. */
  prune(now: number): void {
    for (const [key, entry] of this.entries) {
      const last = entry.hits.at(-1);
      if (!last || last.time <= now - this.windowMs) this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
