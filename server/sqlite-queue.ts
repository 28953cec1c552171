import Database from 'better-sqlite3';
import type { HistoryEntry } from './history.ts';
import {
  DuplicatePromptError, QueueFullError,
  type HistoryStore, type NewPrompt, type PromptQueue, type QueuedPrompt,
} from './queue.ts';

/**
 * The queue and the history in one SQLite file (better-sqlite3, synchronous and fast).
 *
 * Durability: WAL journal with `synchronous = NORMAL` survives a killed process (only a power
 * loss can drop the last transactions). A prompt moves from `queue` to `history` in one
 * transaction, so after a crash it is in exactly one of them. The database is opened in
 * exclusive locking mode, so a second server on the same data directory fails at once instead
 * of running the same prompts twice; the operating system releases the lock when a process dies.
 */
export class DataDirInUseError extends Error {
  constructor(file: string) {
    super(`${file} is in use by another sanagraph server (one server per data directory)`);
    this.name = 'DataDirInUseError';
  }
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS queue (
    prompt_id TEXT PRIMARY KEY,
    number REAL NOT NULL,
    seq INTEGER NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    item TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS queue_order ON queue (running, number, seq);
  CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    entry TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

interface Row { prompt_id: string; number: number; item: string }
interface StoredItem { prompt: Record<string, unknown>; extra_data: Record<string, unknown>; outputs: string[] }

function toPrompt(row: Row): QueuedPrompt {
  const item = JSON.parse(row.item) as StoredItem;
  return { number: row.number, promptId: row.prompt_id, prompt: item.prompt, extraData: item.extra_data, outputsToExecute: item.outputs };
}

export interface SqliteQueueOptions {
  /** Pending prompts allowed at once; `enqueue` throws QueueFullError beyond it. */
  maxPending: number;
  /** History entries kept (the oldest are dropped). */
  historySize: number;
}

export class SqliteQueue implements PromptQueue, HistoryStore {
  private readonly db: Database.Database;
  private readonly listeners = new Set<() => void>();
  private readonly waiters = new Set<() => void>();
  private pendingCount: number;
  private runningCount: number;
  private historyCount: number;
  private nextNumber: number;
  private nextSeq: number;
  private closed = false;
  private readonly sql;

  constructor(readonly file: string, private readonly options: SqliteQueueOptions) {
    this.db = new Database(file, { timeout: 0 });
    try {
      // Exclusive mode before the first WAL access: no shared memory, and the lock is ours alone.
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    } catch (e) {
      this.db.close();
      if ((e as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirInUseError(file);
      throw e;
    }
    const db = this.db;
    this.sql = {
      insert: db.prepare('INSERT INTO queue (prompt_id, number, seq, item) VALUES (?, ?, ?, ?)'),
      exists: db.prepare('SELECT 1 FROM queue WHERE prompt_id = ?').pluck(),
      counter: db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
      // One statement, so no explicit transaction: the first pending prompt becomes running.
      claim: db.prepare(`UPDATE queue SET running = 1 WHERE prompt_id =
        (SELECT prompt_id FROM queue WHERE running = 0 ORDER BY number, seq LIMIT 1) RETURNING prompt_id, number, item`),
      removeRunning: db.prepare('DELETE FROM queue WHERE prompt_id = ? AND running = 1'),
      removePending: db.prepare('DELETE FROM queue WHERE prompt_id = ? AND running = 0'),
      clearPending: db.prepare('DELETE FROM queue WHERE running = 0'),
      all: db.prepare('SELECT prompt_id, number, item, running FROM queue ORDER BY running DESC, number, seq'),
      putHistory: db.prepare('INSERT INTO history (prompt_id, entry) VALUES (?, ?)'),
      trimHistory: db.prepare('DELETE FROM history WHERE seq IN (SELECT seq FROM history ORDER BY seq LIMIT ?)'),
      historyCount: db.prepare('SELECT COUNT(*) FROM history').pluck(),
      historyPage: db.prepare('SELECT prompt_id, entry FROM history ORDER BY seq LIMIT ? OFFSET ?'),
      historyOf: db.prepare('SELECT entry FROM history WHERE prompt_id = ?').pluck(),
      deleteHistory: db.prepare('DELETE FROM history WHERE prompt_id = ?'),
    };
    const count = (running: number) => db.prepare('SELECT COUNT(*) FROM queue WHERE running = ?').pluck().get(running) as number;
    this.pendingCount = count(0);
    this.runningCount = count(1);
    this.historyCount = this.sql.historyCount.get() as number;
    const counter = (name: string) => (db.prepare('SELECT value FROM counters WHERE name = ?').pluck().get(name) as number | undefined) ?? 0;
    this.nextNumber = counter('number');
    this.nextSeq = counter('seq');
  }

  private changed(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    for (const listener of this.listeners) listener();
  }

  async enqueue(p: NewPrompt): Promise<QueuedPrompt> {
    if (this.pendingCount >= this.options.maxPending) throw new QueueFullError(this.options.maxPending);
    if (this.sql.exists.get(p.promptId)) throw new DuplicatePromptError(p.promptId);
    // ComfyUI's numbering: a counter, negated for `front` (so the newest front prompt goes first).
    let number = p.number;
    const seq = this.nextSeq;
    this.db.transaction(() => {
      if (number === undefined) {
        number = p.front ? -this.nextNumber : this.nextNumber;
        this.sql.counter.run('number', this.nextNumber + 1);
      }
      this.sql.counter.run('seq', seq + 1);
      this.sql.insert.run(p.promptId, number, seq, JSON.stringify({ prompt: p.prompt, extra_data: p.extraData, outputs: p.outputsToExecute }));
    })();
    if (p.number === undefined) this.nextNumber++;
    this.nextSeq++;
    this.pendingCount++;
    this.changed();
    return { number: number!, promptId: p.promptId, prompt: p.prompt, extraData: p.extraData, outputsToExecute: p.outputsToExecute };
  }

  private claim(): QueuedPrompt | undefined {
    const row = this.sql.claim.get() as Row | undefined;
    return row && toPrompt(row);
  }

  async take(signal: AbortSignal): Promise<QueuedPrompt | undefined> {
    for (;;) {
      if (signal.aborted || this.closed) return undefined;
      const item = this.claim();
      if (item) {
        this.pendingCount--;
        this.runningCount++;
        this.changed();
        return item;
      }
      await new Promise<void>((resolve) => {
        const wake = () => { signal.removeEventListener('abort', wake); this.waiters.delete(wake); resolve(); };
        this.waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  async finish(promptId: string, entry: HistoryEntry): Promise<void> {
    const text = JSON.stringify(entry);
    const removed = this.db.transaction(() => {
      const { changes } = this.sql.removeRunning.run(promptId);
      // A prompt_id seen before (a client may reuse one) replaces its old entry.
      this.historyCount += 1 - this.sql.deleteHistory.run(promptId).changes;
      this.sql.putHistory.run(promptId, text);
      if (this.historyCount > this.options.historySize) {
        this.historyCount -= this.sql.trimHistory.run(this.historyCount - this.options.historySize).changes;
      }
      return changes;
    })();
    this.runningCount -= removed;
    this.changed();
  }

  async recover(): Promise<number> {
    const { changes } = this.db.prepare('UPDATE queue SET running = 0, number = (SELECT MIN(number) FROM queue) - 1 WHERE running = 1').run();
    this.pendingCount += changes;
    this.runningCount -= changes;
    if (changes) this.changed();
    return changes;
  }

  async list(): Promise<{ running: QueuedPrompt[]; pending: QueuedPrompt[] }> {
    const running: QueuedPrompt[] = [];
    const pending: QueuedPrompt[] = [];
    for (const row of this.sql.all.all() as (Row & { running: number })[]) (row.running ? running : pending).push(toPrompt(row));
    return { running, pending };
  }

  async remaining(): Promise<number> {
    return this.pendingCount + this.runningCount;
  }

  async remove(promptIds: string[]): Promise<number> {
    const removed = this.db.transaction(() => promptIds.reduce((n, id) => n + this.sql.removePending.run(id).changes, 0))();
    this.pendingCount -= removed;
    if (removed) this.changed();
    return removed;
  }

  async clear(): Promise<number> {
    const { changes } = this.sql.clearPending.run();
    this.pendingCount -= changes;
    if (changes) this.changed();
    return changes;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async history(opts: { maxItems?: number; offset?: number } = {}): Promise<Record<string, HistoryEntry>> {
    const { maxItems } = opts;
    let offset = opts.offset ?? -1;
    if (offset < 0 && maxItems !== undefined) offset = this.historyCount - maxItems;
    const rows = this.sql.historyPage.all(maxItems === undefined ? -1 : Math.max(0, maxItems), Math.max(0, offset)) as { prompt_id: string; entry: string }[];
    const out: Record<string, HistoryEntry> = {};
    for (const row of rows) out[row.prompt_id] = JSON.parse(row.entry) as HistoryEntry;
    return out;
  }

  async historyOf(promptId: string): Promise<HistoryEntry | undefined> {
    const entry = this.sql.historyOf.get(promptId) as string | undefined;
    return entry === undefined ? undefined : JSON.parse(entry) as HistoryEntry;
  }

  async deleteHistory(promptIds: string[]): Promise<void> {
    this.db.transaction(() => { for (const id of promptIds) this.historyCount -= this.sql.deleteHistory.run(id).changes; })();
  }

  async clearHistory(): Promise<void> {
    this.db.exec('DELETE FROM history');
    this.historyCount = 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.waiters) wake();
    this.db.close();
  }
}
