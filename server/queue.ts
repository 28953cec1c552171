import type { HistoryEntry } from './history.ts';

/**
 * The prompt queue and history behind the server, as an interface so another store (a Redis
 * queue with BullMQ, [P6]) can replace the SQLite one. Every method may be async.
 *
 * Contract:
 * - `enqueue` persists the prompt before resolving: an accepted prompt is never lost.
 * - `take` hands out pending prompts in order (lowest `number` first, then arrival), marking
 *   each running; one prompt runs at a time per executor.
 * - `finish` removes a running prompt and records its history entry in one atomic step, so a
 *   prompt is either still queued (and runs again after a crash) or in the history, exactly once.
 * - `recover` (at startup) puts prompts left running by a crash back at the front.
 */
export interface QueuedPrompt {
  /** Queue position key, as ComfyUI's: a counter, negated for `front`, or the client's number. */
  number: number;
  promptId: string;
  /** The workflow as the client sent it (ComfyUI API or native format). */
  prompt: Record<string, unknown>;
  extraData: Record<string, unknown>;
  /** The output nodes that will run (ComfyUI's `outputs_to_execute`). */
  outputsToExecute: string[];
}

export interface NewPrompt {
  promptId: string;
  prompt: Record<string, unknown>;
  extraData: Record<string, unknown>;
  outputsToExecute: string[];
  front?: boolean;
  number?: number;
}

/** ComfyUI's queue item: `[number, prompt_id, prompt, extra_data, outputs_to_execute]`. */
export type QueueTuple = [number, string, Record<string, unknown>, Record<string, unknown>, string[]];

/** The WebSocket client a prompt's events go to (`client_id` in its extra data), if any. */
export function clientIdOf(p: Pick<QueuedPrompt, 'extraData'>): string | undefined {
  const id = p.extraData.client_id;
  return typeof id === 'string' && id ? id : undefined;
}

export function toTuple(p: QueuedPrompt): QueueTuple {
  return [p.number, p.promptId, p.prompt, p.extraData, p.outputsToExecute];
}

export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(`the queue is full (${limit} pending prompts): wait for some to finish, or clear it`);
    this.name = 'QueueFullError';
  }
}

export class DuplicatePromptError extends Error {
  constructor(readonly promptId: string) {
    super(`prompt_id "${promptId}" is already queued`);
    this.name = 'DuplicatePromptError';
  }
}

/** The queue as the routes use it: the local one (SQLite) or the distributed one (Redis). */
export interface QueueFront {
  enqueue(prompt: NewPrompt): Promise<QueuedPrompt>;
  list(): Promise<{ running: QueuedPrompt[]; pending: QueuedPrompt[] }>;
  /** Pending plus running, ComfyUI's `queue_remaining`. */
  remaining(): Promise<number>;
  /** Removes pending prompts (running ones are interrupted instead); returns how many. */
  remove(promptIds: string[]): Promise<number>;
  clear(): Promise<number>;
  /** Called after every change of the queue (for `status` messages). */
  subscribe(listener: () => void): () => void;
  close(): Promise<void>;
}

/** The local queue, with the side its runner uses. */
export interface PromptQueue extends QueueFront {
  /** The next pending prompt, marked running; waits for one. Undefined once `signal` aborts. */
  take(signal: AbortSignal): Promise<QueuedPrompt | undefined>;
  finish(promptId: string, entry: HistoryEntry): Promise<void>;
  /** Puts prompts left running (by a crash) back at the front; returns how many. */
  recover(): Promise<number>;
}

export interface HistoryStore {
  /** Entries oldest first; `maxItems` without `offset` gives the newest ones (as ComfyUI). */
  history(opts?: { maxItems?: number; offset?: number }): Promise<Record<string, HistoryEntry>>;
  historyOf(promptId: string): Promise<HistoryEntry | undefined>;
  deleteHistory(promptIds: string[]): Promise<void>;
  clearHistory(): Promise<void>;
}
