import type { UiOutput } from './node.ts';

export interface CacheEntry {
  readonly outputs: readonly unknown[];
  readonly ui?: UiOutput;
  readonly bytes: number;
}

export interface CacheLimits {
  /** Total size of cached outputs, by their data types' `byteSize`. */
  maxBytes: number;
  maxEntries: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = { maxBytes: 2 * 1024 ** 3, maxEntries: 100_000 };

/**
 * Node results keyed by signature, least recently used evicted first, bounded by bytes and
 * by count. A running execution keeps its own references to the values it uses, so
 * eviction never takes a value away from it.
 */
export class ResultCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** Entries `get` has returned: a run may hold their values. */
  private readonly handedOut = new WeakSet<CacheEntry>();
  private bytes = 0;
  hits = 0;
  misses = 0;
  evictions = 0;

  constructor(readonly limits: CacheLimits = DEFAULT_CACHE_LIMITS) {}

  get(signature: string): CacheEntry | undefined {
    const entry = this.entries.get(signature);
    if (!entry) { this.misses++; return undefined; }
    this.hits++;
    this.handedOut.add(entry);
    // Map keeps insertion order: re-inserting marks the entry most recently used.
    this.entries.delete(signature);
    this.entries.set(signature, entry);
    return entry;
  }

  has(signature: string): boolean {
    return this.entries.has(signature);
  }

  set(signature: string, entry: CacheEntry): void {
    this.delete(signature);
    if (entry.bytes > this.limits.maxBytes) return; // would evict everything and still not fit
    this.entries.set(signature, entry);
    this.bytes += entry.bytes;
    this.evict();
  }

  delete(signature: string): void {
    const old = this.entries.get(signature);
    if (!old) return;
    this.entries.delete(signature);
    this.bytes -= old.bytes;
  }

  /**
   * Removes the entry for `signature` if it still holds `outputs` and `get` never returned it,
   * so no run can be holding its values; returns whether it did. (Their arrays can then be
   * reused: see SubgraphOptions.transient.)
   */
  takeBack(signature: string, outputs: readonly unknown[]): boolean {
    const entry = this.entries.get(signature);
    if (!entry || entry.outputs !== outputs || this.handedOut.has(entry)) return false;
    this.delete(signature);
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private evict(): void {
    for (const [sig, entry] of this.entries) {
      if (this.bytes <= this.limits.maxBytes && this.entries.size <= this.limits.maxEntries) break;
      this.entries.delete(sig);
      this.bytes -= entry.bytes;
      this.evictions++;
    }
  }

  stats() {
    return { entries: this.entries.size, bytes: this.bytes, ...this.limits, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }
}
