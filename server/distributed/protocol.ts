import type { ExecutionResult } from '../../engine/executor.ts';
import type { UiOutput } from '../../engine/node.ts';
import type { HistoryStatus, NodeMeta } from '../history.ts';
import type { QueuedPrompt } from '../queue.ts';

/**
 * What the server and the workers exchange through Redis. BullMQ holds the prompts (queue
 * `prompts` under the key prefix `sanagraph`); our own keys share that prefix.
 */
export const PREFIX = 'sanagraph';
export const QUEUE_NAME = 'prompts';

export const keys = {
  /** The server's queue-position counter (ComfyUI's `number`). */
  number: `${PREFIX}:number`,
  /** One per live worker, with a TTL: its WorkerInfo as JSON. */
  worker: (id: string) => `${PREFIX}:worker:${id}`,
  /** The ids of the workers that have announced themselves (some may have expired since). */
  workerIds: `${PREFIX}:workers`,
  /** An output file's bytes, written by a worker, read (then deleted) by the server. */
  file: (promptId: string, attempt: string, slot: string) => `${PREFIX}:file:${encodeURIComponent(promptId)}:${attempt}:${slot}`,
  /** The server's record of the files it stored for a prompt: slot → StoredFile. */
  stored: (promptId: string) => `${PREFIX}:stored:${encodeURIComponent(promptId)}`,
  /** Pub/sub channel for server → worker commands. */
  control: `${PREFIX}:control`,
};

/** A prompt runs at most this many times when the engine thread dies under it (then it fails). */
export const JOB_ATTEMPTS = 3;

/** Files wait in Redis at most this long for the server to pick them up. */
export const FILE_TTL_S = 24 * 3600;

/** BullMQ forbids job ids that are integers or contain ':'; such prompt ids are encoded. */
export function jobIdOf(promptId: string): string {
  return /^\d+$/.test(promptId) || promptId.includes(':') || promptId.startsWith('enc.') ? `enc.${encodeURIComponent(promptId)}` : promptId;
}

/** A queued prompt as a BullMQ job carries it. */
export interface JobData extends QueuedPrompt {
  /** Set once a worker has passed the prompt on to one that holds its models (affinity.ts). */
  passed?: boolean;
}

/**
 * An output file in a UI output, as a worker sends it: the entry keeps its fields and gains
 * `ref` (where its bytes wait in Redis); the server replaces both with the file it stored.
 * `slot` (node, key, index) names the file within the prompt, so a retried run's file replaces
 * the first attempt's instead of adding a second one.
 */
export interface FileRef { key: string; slot: string }

/**
 * A `progress` payload (BullMQ `job.updateProgress`): engine events for client `sid`, in order.
 * A worker sends the events that happened while its previous update was on its way as one batch
 * (one Redis write per batch instead of per event: a 30-step prompt makes ~150 events).
 */
export interface EventMessage {
  sid?: string;
  /** The engine events; `executed` outputs carry FileRefs in their file entries. */
  events: { type: string; data: Record<string, unknown> }[];
}

/** A job's return value: what the history needs, with FileRefs in `outputs`. */
export interface JobResult {
  status: ExecutionResult['status'];
  outputs: Record<string, UiOutput>;
  messages: HistoryStatus['messages'];
  meta: Record<string, NodeMeta>;
  /** Every Redis key holding this attempt's files (deleted once the server has them). */
  fileKeys: string[];
}

/** A worker as the registry shows it (`/queue`, `/system_stats`). */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  device: string;
  /** The prompt running now, or null when idle. */
  current_prompt: string | null;
  loaded_models: { path: string; device: string; provider: string; bytes: number }[];
  /** The pipelines (LoadPipeline paths, as workflows give them) whose models are loaded: for affinity. */
  pipelines: string[];
  jobs_done: number;
  started_at: number;
  seen_at: number;
}

export type ControlMessage =
  | { type: 'interrupt'; promptId?: string }
  | { type: 'free'; clearCache: boolean };
