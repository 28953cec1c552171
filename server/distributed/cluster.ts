import { setTimeout as sleep } from 'node:timers/promises';
import { QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ExecutionResult } from '../../engine/executor.ts';
import type { Logger } from '../../engine/node.ts';
import { RunRecord } from '../history.ts';
import type { ClientHub } from '../ws.ts';
import { bullConnection, redisClient } from './connection.ts';
import { FileReceiver } from './file-transfer.ts';
import { keys, PREFIX, QUEUE_NAME, type ControlMessage, type EventMessage, type JobData, type JobResult, type WorkerInfo } from './protocol.ts';
import { clientIdOf } from '../queue.ts';
import { RedisQueue, toPrompt, type FinishedHistory } from './redis-queue.ts';
import { listWorkers } from './worker-registry.ts';

/**
 * The server's side of distributed execution: the BullMQ queue, plus
 * - the relay: workers' engine events (BullMQ progress events) go to the WebSocket clients as
 *   they would in single-process mode, `executed` outputs only once their files are stored here;
 * - collection: a finished job's outputs are stored, its history entry recorded and the job
 *   removed, exactly once (triggered by BullMQ's events, and by a sweep that catches whatever
 *   was missed while the server or Redis was away);
 * - control: `/interrupt` and `/free` are published to every worker.
 * Everything that comes from the event stream is handled one at a time, in order.
 */
const SWEEP_MS = 2000;

export interface ClusterOptions {
  url: string;
  history: FinishedHistory;
  hub: ClientHub;
  dirs: { output: string; temp: string };
  maxPending: number;
  logger: Logger;
}

export class Cluster {
  readonly queue: RedisQueue;
  private readonly redis: Redis;
  private readonly events: QueueEvents;
  private readonly files: FileReceiver;
  private readonly sweeper: NodeJS.Timeout;
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ClusterOptions) {
    this.redis = redisClient(opts.url, 'sanagraph-server');
    this.queue = new RedisQueue(opts.url, this.redis, opts.history, { maxPending: opts.maxPending });
    this.files = new FileReceiver(this.redis, opts.dirs);
    this.events = new QueueEvents(QUEUE_NAME, { connection: bullConnection(opts.url), prefix: PREFIX });
    this.events.on('error', () => {}); // reconnects by itself and resumes after the last event it read
    this.events.on('progress', ({ data }) => this.serially(() => this.forward(data as unknown as EventMessage)));
    for (const event of ['completed', 'failed'] as const) this.events.on(event, ({ jobId }: { jobId: string }) => this.serially(() => this.collect(jobId)));
    // (Removals announce themselves: only this server removes jobs, and RedisQueue says so then.)
    for (const event of ['active', 'waiting', 'stalled', 'delayed'] as const) this.events.on(event, () => this.queue.changed());
    this.sweeper = setInterval(() => this.serially(() => this.sweep()), SWEEP_MS);
    this.serially(() => this.sweep());
  }

  /** Waits until the event reader and the queue are connected. */
  async ready(): Promise<void> {
    await Promise.all([this.events.waitUntilReady(), this.queue.bull.waitUntilReady()]);
  }

  private serially(task: () => Promise<void>): void {
    this.tail = this.tail.then(task).catch((e) => this.opts.logger.error(`distributed queue: ${(e as Error).stack ?? String(e)}`));
  }

  // --- the executor's part of the ServerContext (runner) ---

  /** A prompt running on some worker (from Redis: a prompt put back, or removed meanwhile, is not). */
  async runningPrompt(): Promise<string | undefined> {
    const [job] = await this.queue.bull.getActive(0, 0);
    return job?.data.promptId;
  }

  /** Asks every worker to stop the prompt it runs (only `promptId`, when given). */
  interrupt(promptId?: string): boolean {
    this.publish({ type: 'interrupt', promptId });
    return true;
  }

  async free(opts: { clearCache: boolean }): Promise<void> {
    this.publish({ type: 'free', clearCache: opts.clearCache });
  }

  private publish(message: ControlMessage): void {
    this.redis.publish(keys.control, JSON.stringify(message)).catch((e) => this.opts.logger.warn(`cannot reach the workers: ${(e as Error).message}`));
  }

  /** For `/queue` and `/system_stats`. */
  async workers(): Promise<WorkerInfo[]> {
    return listWorkers(this.redis);
  }

  // --- events and results ---

  private async forward(message: EventMessage): Promise<void> {
    const { sid } = message;
    for (const event of message.events ?? []) {
      const promptId = String(event.data.prompt_id);
      let data = event.data;
      if (event.type === 'executed') {
        try {
          data = { ...data, output: await this.files.resolve(promptId, data.output as Record<string, unknown[]>, String(data.node)) };
        } catch (e) {
          // The job's result stores (or reports) the files again; the rest of this batch still goes out.
          this.opts.logger.warn(`prompt ${promptId}: cannot store the outputs of node ${String(data.node)} yet: ${(e as Error).message}`);
          continue;
        }
      }
      this.opts.hub.send(event.type, data, sid);
    }
  }

  private async sweep(): Promise<void> {
    for (const job of await this.queue.bull.getJobs(['completed', 'failed'], 0, 99, true)) {
      // One job that cannot be collected must not hold up the others behind it.
      if (job) await this.collect(job.id!).catch((e) => this.opts.logger.error(`prompt ${job.id}: cannot collect its result: ${(e as Error).message}`));
    }
  }

  /** Stores a finished job's files and history entry, then removes it; does nothing twice. */
  private async collect(jobId: string): Promise<void> {
    const job = await this.queue.bull.getJob(jobId) as Job<JobData, JobResult> | undefined;
    const state = job && await job.getState();
    if (!job || (state !== 'completed' && state !== 'failed')) return; // gone already, or to be retried
    const item = toPrompt(job);
    const sid = clientIdOf(item);
    const record = new RunRecord();
    let result: Pick<ExecutionResult, 'status' | 'outputs'> | undefined;
    let reason = job.failedReason || 'the job failed';
    const value = job.returnvalue;
    if (state === 'completed' && value) {
      try {
        const outputs: ExecutionResult['outputs'] = {};
        for (const [node, output] of Object.entries(value.outputs)) outputs[node] = await this.files.resolve(item.promptId, output, node);
        result = { status: value.status, outputs };
        record.messages.push(...value.messages);
        Object.assign(record.meta, value.meta);
      } catch (e) {
        // e.g. the files' bytes expired in Redis while the server was away: record that, and go on.
        reason = `the prompt ran, but its output files could not be stored: ${(e as Error).message}`;
      }
    }
    if (!result) {
      // Validation failed on the worker, the prompt ran out of attempts, or its files are lost: tell the client as the runner would.
      const where = `worker ${job.processedBy ?? '?'}, attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}`;
      this.opts.hub.send('execution_error', record.failed(item.promptId, Object.assign(new Error(`${reason} (${where})`), { name: 'WorkerError' })), sid);
    }
    const entry = record.entry(item, result);
    if (job.processedBy) entry.worker = job.processedBy; // BullMQ records the name of the worker that took it
    await this.queue.finish(item.promptId, entry);
    await this.files.forget(item.promptId, value?.fileKeys ?? []);
    await this.opts.hub.promptDone(item.promptId, sid);
  }

  /** Stops; with Redis away, gives up waiting after a few seconds rather than hang the shutdown. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => {}), sleep(3000)]);
    await bounded(this.tail);
    await bounded(Promise.all([this.events.close(), this.queue.close()]));
    // Whatever did not close (Redis unreachable) must stop reconnecting, or it keeps the process alive.
    await bounded(Promise.all([this.events.disconnect(), this.queue.bull.disconnect()]));
    this.redis.disconnect();
  }
}
