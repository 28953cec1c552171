import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EngineEvent } from '../../engine/events.ts';
import type { ExecutionResult } from '../../engine/executor.ts';
import type { Logger } from '../../engine/node.ts';
import { WorkflowValidationError } from '../../engine/validate.ts';
import { parseWorkflow, WorkflowFormatError, type Workflow } from '../../engine/workflow.ts';
import type { EngineSetupOptions } from '../../nodes/engine-setup.ts';
import { EngineHost } from '../engine-host.ts';
import { RunRecord } from '../history.ts';
import { betterWorker, couldDoBetter, loadedPipelines, PASS_PAUSE_MS, pipelinesOf } from './affinity.ts';
import { bullConnection, redisClient } from './connection.ts';
import { FileSender } from './file-transfer.ts';
import {
  keys, PREFIX, QUEUE_NAME,
  type ControlMessage, type EventMessage, type JobData, type JobResult, type WorkerInfo,
} from './protocol.ts';
import { HEARTBEAT_MS, listWorkers, publishWorker, removeWorker } from './worker-registry.ts';
import { clientIdOf } from '../queue.ts';

/**
 * A worker: takes prompts from the BullMQ queue, one at a time, and runs them on its own engine
 * (its own model manager and result cache). Engine events go back as BullMQ progress updates,
 * in order, before the job completes; output files go through Redis (file-transfer.ts).
 *
 * Failures: a workflow the worker cannot parse or validate fails at once (UnrecoverableError, no
 * retry); a node error is a completed job whose result says so (not retried either, as in
 * single-process mode); an engine thread that dies is retried on any worker, up to the job's
 * attempts. A worker killed mid-job loses its lock; another worker's stalled-job check puts the
 * prompt back in the queue after `stallMs`, and it runs again from the start.
 */
export interface PromptWorkerOptions {
  queueUrl: string;
  /** The engine's settings (models, custom nodes, threads, device, cache); its output goes to `dataDir`. */
  engine: EngineSetupOptions;
  /** The worker's own folder: outputs wait in its `output` and `temp` subfolders (cleared at start) until sent. */
  dataDir: string;
  id?: string;
  /** How long a silent worker keeps its job before another takes it over (BullMQ lock duration). */
  stallMs?: number;
  logger: Logger;
}

export class PromptWorker {
  readonly id: string;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly bull: Worker<JobData, JobResult>;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  /** LoadPipeline paths seen → the folders they resolve to (for `pipelines`). */
  private readonly pipelinePaths = new Map<string, string>();
  private models: WorkerInfo['loaded_models'] = [];
  private current?: { promptId: string; controller: AbortController };
  private jobsDone = 0;
  private closing = false;

  private constructor(private readonly engine: EngineHost, private readonly opts: PromptWorkerOptions) {
    this.id = opts.id ?? `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 4)}`;
    this.redis = redisClient(opts.queueUrl, `sanagraph-worker-${this.id}`);
    this.subscriber = redisClient(opts.queueUrl, `sanagraph-worker-${this.id}-control`);
    // ioredis subscribes again by itself after a reconnect.
    this.subscriber.subscribe(keys.control).catch((e) => opts.logger.warn(`worker ${this.id}: cannot subscribe to commands: ${(e as Error).message}`));
    this.subscriber.on('message', (_channel, message: string) => this.onControl(message));
    const stallMs = opts.stallMs ?? 30_000;
    this.bull = new Worker<JobData, JobResult>(QUEUE_NAME, (job, token, signal) => this.process(job, token, signal), {
      connection: bullConnection(opts.queueUrl), prefix: PREFIX, name: this.id, concurrency: 1,
      lockDuration: stallMs, stalledInterval: stallMs, maxStalledCount: 2,
    });
    // Redis going away is reported here; the worker reconnects by itself.
    this.bull.on('error', (e) => opts.logger.warn(`worker ${this.id}: ${e.message}`));
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.beat();
  }

  static async start(opts: PromptWorkerOptions): Promise<PromptWorker> {
    const dataDir = path.resolve(opts.dataDir);
    const dirs = { outputDir: path.join(dataDir, 'output'), tempDir: path.join(dataDir, 'temp') };
    for (const dir of Object.values(dirs)) {
      rmSync(dir, { recursive: true, force: true }); // files of an earlier run were sent, or are lost with it
      mkdirSync(dir, { recursive: true });
    }
    const engine = await EngineHost.create({ ...opts.engine, ...dirs }, opts.logger);
    const worker = new PromptWorker(engine, opts);
    await worker.bull.waitUntilReady();
    return worker;
  }

  get info(): WorkerInfo {
    return {
      id: this.id, host: os.hostname(), pid: process.pid, device: this.opts.engine.device ?? 'auto',
      current_prompt: this.current?.promptId ?? null,
      loaded_models: this.models,
      pipelines: loadedPipelines(this.pipelinePaths, this.models.map((m) => m.path)),
      jobs_done: this.jobsDone, started_at: this.startedAt, seen_at: Date.now(),
    };
  }

  private beat(): void {
    if (!this.closing) publishWorker(this.redis, this.info).catch(() => {}); // Redis away: the next beat retries
  }

  private onControl(message: string): void {
    let command: ControlMessage;
    try { command = JSON.parse(message) as ControlMessage; } catch { return; }
    if (command.type === 'interrupt' && this.current && (!command.promptId || command.promptId === this.current.promptId)) {
      this.current.controller.abort();
    }
    if (command.type === 'free') this.free(command.clearCache).catch((e) => this.opts.logger.warn(`worker ${this.id}: free failed: ${(e as Error).message}`));
  }

  /** As ComfyUI's `/free`: now when idle, else after the running prompt (EngineHost.free; the list of models is refreshed after every job). */
  private async free(clearCache: boolean): Promise<void> {
    await this.engine.free({ clearCache });
    if (!this.current) await this.refreshModels(); // during a prompt the free waits for it, and process() refreshes then
  }

  private async refreshModels(): Promise<void> {
    this.models = await this.engine.command<WorkerInfo['loaded_models']>('models').catch(() => this.models);
    this.beat();
  }

  private parse(data: JobData): Workflow {
    try {
      return parseWorkflow(data.prompt);
    } catch (e) {
      throw new UnrecoverableError((e as Error).message);
    }
  }

  /** Affinity (affinity.ts): hands the prompt back when an idle worker holds its models. */
  private async passOn(job: Job<JobData, JobResult>, token: string | undefined, workflow: Workflow): Promise<boolean> {
    if (job.data.passed || !token) return false;
    const needed = pipelinesOf(workflow);
    for (const p of needed) this.pipelinePaths.set(p, path.resolve(this.engine.modelsDir, p));
    const me = this.info;
    if (!couldDoBetter(me, needed)) return false; // the usual case: no need to ask Redis who else is there
    const other = betterWorker(me, await listWorkers(this.redis), needed);
    if (!other) return false;
    this.opts.logger.debug(`worker ${this.id}: prompt ${job.data.promptId} goes to ${other.id}, which holds its models`);
    await job.updateData({ ...job.data, passed: true });
    await job.moveToWait(token);
    await sleep(PASS_PAUSE_MS); // still busy: the other worker takes it meanwhile
    return true;
  }

  private async process(job: Job<JobData, JobResult>, token: string | undefined, signal?: AbortSignal): Promise<JobResult> {
    const data = job.data;
    const workflow = this.parse(data);
    if (await this.passOn(job, token, workflow)) throw new WaitingError();
    const controller = new AbortController();
    signal?.addEventListener('abort', () => controller.abort(), { once: true });
    this.current = { promptId: data.promptId, controller };
    this.beat();
    const sid = clientIdOf(data);
    const files = new FileSender(this.redis, data.promptId, randomUUID().slice(0, 8), { output: this.engine.outputDir, temp: this.engine.tempDir });
    const record = new RunRecord();
    // Events leave in the order they happened, in batches: whatever arrives while one update is
    // on its way goes out together in the next.
    let sent = Promise.resolve();
    let pending: EngineEvent[] = [];
    const onEvent = (event: EngineEvent) => {
      record.observe(event);
      pending.push(event);
      if (pending.length > 1) return; // a send is already scheduled and will take it
      sent = sent.then(() => {
        const batch = pending;
        pending = [];
        return this.sendEvents(job, sid, batch, files);
      }).catch((e) => this.opts.logger.warn(`worker ${this.id}: events lost: ${(e as Error).message}`));
    };
    let result: ExecutionResult;
    try {
      result = await this.engine.execute(workflow, { promptId: data.promptId, signal: controller.signal, targets: data.outputsToExecute, onEvent });
    } catch (e) {
      await sent;
      // Validation fails the same way on every worker; anything else means the engine thread died.
      if (e instanceof WorkflowValidationError || e instanceof WorkflowFormatError) throw new UnrecoverableError((e as Error).message);
      throw e;
    } finally {
      this.current = undefined;
      this.jobsDone++;
      await this.refreshModels();
    }
    await sent;
    if (result.status === 'interrupted' && this.closing && token) {
      await job.moveToWait(token); // stopping, not interrupted by a user: the prompt runs again elsewhere
      throw new WaitingError();
    }
    const outputs: JobResult['outputs'] = {};
    for (const [node, output] of Object.entries(result.outputs)) outputs[node] = await files.attach(output, node);
    return { status: result.status, outputs, messages: record.messages, meta: record.meta, fileKeys: files.keys };
  }

  private async sendEvents(job: Job<JobData, JobResult>, sid: string | undefined, batch: EngineEvent[], files: FileSender): Promise<void> {
    const events: EventMessage['events'] = [];
    for (const event of batch) {
      let data = event.data as unknown as Record<string, unknown>;
      if (event.type === 'executed') data = { ...data, output: await files.attach(event.data.output, event.data.node) };
      events.push({ type: event.type, data });
    }
    const message: EventMessage = { sid, events };
    await job.updateProgress(message as unknown as object);
  }

  /** Stops taking prompts; a running one is interrupted and goes back to the queue. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.heartbeat);
    this.current?.controller.abort();
    await this.bull.close();
    await removeWorker(this.redis, this.id).catch(() => {});
    this.redis.disconnect();
    this.subscriber.disconnect();
    await this.engine.close();
  }
}
