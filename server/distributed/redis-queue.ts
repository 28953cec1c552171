import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { HistoryEntry } from '../history.ts';
import {
  DuplicatePromptError, QueueFullError,
  type NewPrompt, type PromptQueue, type QueueFront, type QueuedPrompt,
} from '../queue.ts';
import { bullConnection } from './connection.ts';
import { JOB_ATTEMPTS, jobIdOf, keys, PREFIX, QUEUE_NAME, type JobData, type JobResult } from './protocol.ts';

/**
 * The prompt queue on BullMQ (Redis), for `serve --queue redis://...`: the server adds prompts,
 * workers (`sanagraph worker`) take them. The job id is the prompt id, so a prompt is queued once.
 * The history stays in the server's SQLite file: `finish` records the entry there first and only
 * then removes the finished job, so a crash in between leaves the job to be recorded again (the
 * entry is replaced, not added: still exactly one).
 *
 * Order: BullMQ's, first in first out; `front` puts a prompt at the head (LIFO). A client-given
 * `number` is kept and shown but does not reorder the queue.
 */
/** The BullMQ queue, typed with our job data and results. */
type BullQueue = Queue<JobData, JobResult, string, JobData, JobResult>;

/** Where a finished prompt's history entry goes (the server's SQLite store). */
export type FinishedHistory = Pick<PromptQueue, 'finish'>;

/** Job states that count as pending (a retry waiting out its backoff is `delayed`). */
const PENDING = ['waiting', 'prioritized', 'delayed'] as const;

export class RedisQueue implements QueueFront {
  readonly bull: BullQueue;
  private readonly listeners = new Set<() => void>();

  constructor(url: string, private readonly redis: Redis, private readonly history: FinishedHistory, private readonly options: { maxPending: number }) {
    this.bull = new Queue<JobData, JobResult, string, JobData, JobResult>(QUEUE_NAME, { connection: bullConnection(url), prefix: PREFIX });
    this.bull.on('error', () => {}); // reconnects by itself
  }

  /** Called on every change seen here or reported by the queue's events. */
  changed(): void {
    for (const listener of this.listeners) listener();
  }

  async enqueue(p: NewPrompt): Promise<QueuedPrompt> {
    const jobId = jobIdOf(p.promptId);
    const [pending, existing] = await Promise.all([this.bull.getJobCountByTypes(...PENDING), this.bull.getJob(jobId)]);
    if (pending >= this.options.maxPending) throw new QueueFullError(this.options.maxPending);
    if (existing) throw new DuplicatePromptError(p.promptId);
    let number = p.number;
    if (number === undefined) {
      const counter = (await this.redis.incr(keys.number)) - 1;
      number = p.front ? -counter : counter;
    }
    const data: JobData = { promptId: p.promptId, number, prompt: p.prompt, extraData: p.extraData, outputsToExecute: p.outputsToExecute };
    // Resolves once Redis has the job: accepted means stored (as durable as Redis is configured).
    await this.bull.add('prompt', data, { jobId, lifo: p.front === true, attempts: JOB_ATTEMPTS, backoff: { type: 'fixed', delay: 1000 } });
    this.changed();
    return data;
  }

  /**
   * Records a finished prompt and removes its job (the Cluster calls this). Workers take the
   * prompts; BullMQ's stalled-job check, in the workers, re-queues those whose worker died.
   */
  async finish(promptId: string, entry: HistoryEntry): Promise<void> {
    await this.history.finish(promptId, entry);
    await this.bull.remove(jobIdOf(promptId));
    this.changed();
  }

  async list(): Promise<{ running: QueuedPrompt[]; pending: QueuedPrompt[] }> {
    const [running, pending] = await Promise.all([this.bull.getActive(), this.pendingJobs()]);
    return { running: running.map(toPrompt), pending: pending.map(toPrompt) };
  }

  /** Pending jobs in the order workers will take them. */
  private async pendingJobs(): Promise<Job<JobData, JobResult>[]> {
    const [waiting, delayed] = await Promise.all([this.bull.getJobs(['waiting', 'prioritized'], 0, -1, true), this.bull.getDelayed()]);
    return [...waiting, ...delayed].filter(Boolean) as Job<JobData, JobResult>[];
  }

  async remaining(): Promise<number> {
    return this.bull.getJobCountByTypes('active', ...PENDING);
  }

  async remove(promptIds: string[]): Promise<number> {
    let removed = 0;
    for (const id of promptIds) {
      const job = await this.bull.getJob(jobIdOf(id));
      const state = job && await job.getState();
      if (!job || !(PENDING as readonly string[]).includes(state as string)) continue;
      // A worker may take it meanwhile: then it is running, and removing it fails (interrupt it instead).
      try { await job.remove(); removed++; } catch { /* taken by a worker */ }
    }
    if (removed) this.changed();
    return removed;
  }

  /** Empties the pending queue in one step (BullMQ's drain: waiting, prioritized and delayed jobs). */
  async clear(): Promise<number> {
    const pending = await this.bull.getJobCountByTypes(...PENDING);
    await this.bull.drain(true);
    if (pending) this.changed();
    return pending;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.bull.close();
  }
}

export function toPrompt(job: Job<JobData, JobResult>): QueuedPrompt {
  const { passed: _passed, ...prompt } = job.data;
  return prompt;
}
